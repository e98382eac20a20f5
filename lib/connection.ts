import type { Request, Response } from 'express';
import createDebug from 'debug';
import type { Stream } from './stream';

const debug = createDebug('turbo-express:connection');

/** What a connection needs from whoever owns it. */
export interface ConnectionOwner {
  /** Called with the connection when it has frames to write; the owner calls `flush()` later. */
  markDirty(connection: Connection): void;
  /** Called once when the connection closes, for whatever reason. */
  forget(connection: Connection): void;
}

/**
 * One open SSE response. Frames are queued and written together by `flush()`, so several
 * messages in one tick leave in one write. A client that stops reading is dropped once more than
 * `maxQueuedBytes` wait for it; it reconnects with `Last-Event-ID` and replays what it missed.
 */
export class Connection {
  readonly req: Request;
  readonly res: Response;
  readonly stream: Stream;
  readonly streamName: string;
  /** Position in the owner's list for this stream, kept by the owner for O(1) removal. */
  slot = -1;
  isOpen = true;

  private readonly owner: ConnectionOwner;
  private readonly maxQueuedBytes: number;
  private pending: Buffer | Buffer[] | null = null;
  /** While replay runs, live messages wait here with their ids, to drop what replay sent. */
  private held: { id: string; frame: Buffer }[] | null = null;

  constructor(req: Request, res: Response, stream: Stream, owner: ConnectionOwner, maxQueuedBytes: number) {
    this.req = req;
    this.res = res;
    this.stream = stream;
    this.streamName = stream.name;
    this.owner = owner;
    this.maxQueuedBytes = maxQueuedBytes;
    res.on('close', () => this.close());
  }

  /** Sends the SSE headers and the `retry:` hint at once, before any message. */
  open(retryFrame: Buffer): void {
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // nginx and some other proxies buffer responses unless told not to.
      'X-Accel-Buffering': 'no',
    });
    this.res.flushHeaders();
    this.write(retryFrame);
  }

  /** Holds live messages until `release()`, while replay is being written. */
  hold(): void {
    this.held = [];
  }

  /** Writes the held live messages that replay did not already send, then goes live. */
  release(sentIds: ReadonlySet<string>): void {
    const held = this.held ?? [];
    this.held = null;
    for (const { id, frame } of held) if (!sentIds.has(id)) this.enqueue(frame);
  }

  /** Queues one live message; held while replay runs. */
  deliver(id: string, frame: Buffer): void {
    if (this.held !== null) this.held.push({ id, frame });
    else this.enqueue(frame);
  }

  /** Queues a frame to go out with the next flush. */
  enqueue(frame: Buffer): void {
    if (!this.isOpen) return;
    const pending = this.pending;
    if (pending === null) {
      this.pending = frame;
      this.owner.markDirty(this);
    } else if (Array.isArray(pending)) {
      pending.push(frame);
    } else {
      this.pending = [pending, frame];
    }
  }

  /** Writes everything queued in one write, or drops the client if too much is waiting. */
  flush(): void {
    const pending = this.pending;
    this.pending = null;
    if (pending === null || !this.isOpen) return;
    if (this.res.writableLength > this.maxQueuedBytes) {
      debug('dropping %s: %d bytes queued', this.streamName, this.res.writableLength);
      this.res.destroy();
      return;
    }
    this.write(Array.isArray(pending) ? Buffer.concat(pending) : pending);
  }

  /** Ends the response; the client may reconnect. */
  end(): void {
    if (!this.isOpen) return;
    this.res.end();
    this.close();
  }

  private write(chunk: Buffer): void {
    this.res.write(chunk);
    // compression() holds output back until told to flush.
    (this.res as Response & { flush?: () => void }).flush?.();
  }

  private close(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.pending = null;
    this.held = null;
    this.owner.forget(this);
  }
}
