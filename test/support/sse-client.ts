import http from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** A real SSE client over a real HTTP response, parsed with eventsource-parser. */
export class SseClient {
  readonly events: EventSourceMessage[] = [];
  readonly comments: string[] = [];
  retry: number | undefined;
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  body = '';
  raw = '';
  ended = false;
  /** The URL this client opened. */
  url = '';
  private request: http.ClientRequest | null = null;
  private waiters: (() => void)[] = [];

  /** Opens `url` and resolves once the response headers arrived. */
  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = new SseClient();
    client.url = url;
    return client.connect(url, headers).then(() => client);
  }

  private connect(url: string, headers: Record<string, string>): Promise<void> {
    return new Promise((resolve, reject) => {
      const parser = createParser({
        onEvent: (event) => {
          this.events.push(event);
          this.wake();
        },
        onComment: (comment) => {
          this.comments.push(comment);
          this.wake();
        },
        onRetry: (retry) => {
          this.retry = retry;
          this.wake();
        },
      });
      const request = http.get(
        url,
        { headers: { accept: 'text/event-stream', ...headers } },
        (response) => {
          this.status = response.statusCode ?? 0;
          this.headers = response.headers;
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            this.raw += chunk;
            if (this.status === 200) parser.feed(chunk);
            else this.body += chunk;
          });
          const finish = () => {
            this.ended = true;
            this.wake();
          };
          response.on('end', finish);
          response.on('close', finish);
          resolve();
        },
      );
      request.on('error', (error) => {
        this.ended = true;
        this.wake();
        reject(error);
      });
      this.request = request;
    });
  }

  /** Waits until `predicate` holds, failing after `timeout` milliseconds. */
  waitUntil(predicate: () => boolean, timeout = 3000, what = 'condition'): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(
          new Error(
            `Timed out after ${timeout} ms waiting for ${what}; got ${this.events.length} event(s)`,
          ),
        );
      }, timeout);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  /** Waits for at least `count` events. */
  async waitForEvents(count: number, timeout = 3000): Promise<EventSourceMessage[]> {
    await this.waitUntil(() => this.events.length >= count, timeout, `${count} event(s)`);
    return this.events;
  }

  /** Waits until the server ends the response. */
  waitForEnd(timeout = 3000): Promise<void> {
    return this.waitUntil(() => this.ended, timeout, 'the end of the response');
  }

  /** The data of every event received so far. */
  get data(): string[] {
    return this.events.map((event) => event.data);
  }

  close(): void {
    this.request?.destroy();
    this.request = null;
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Lets pending I/O and timers of the current turn run: for asserting that nothing arrived. */
export function settle(ms = 100): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
