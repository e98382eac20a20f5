/**
 * One raw-TCP SSE subscriber: a hand-written GET, then bytes are counted (and, for sampled
 * subscribers, scanned for latency markers). Reads go through `onread` into one shared buffer:
 * no per-chunk Buffer allocation and no stream machinery, which keeps the generator cheap.
 */
import net from 'node:net';
import { wallNow } from '../clock';
import { DataLineCounter } from './frames';
import { MarkerScanner } from './marker-scanner';

export interface SubscriberSink {
  onMessages(count: number): void;
  onMarkers(markers: Array<[number, number]>, receivedAt: number): void;
  onUnexpectedClose(): void;
}

const HEADER_END = '\r\n\r\n';
/** Safe to share: each read is fully processed before the next one lands in it. */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

export class Subscriber {
  scanner: MarkerScanner | null = null;
  private socket: net.Socket | null = null;
  private head: string | null = '';
  private readonly counter = new DataLineCounter();
  private closing = false;
  private onHeadDone: ((error?: Error) => void) | null = null;

  constructor(private readonly sink: SubscriberSink) {}

  /** Resolves once the response head (status 200) has arrived. */
  connect(port: number, path: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.onHeadDone?.(new Error('connect timeout')), timeoutMs);
      this.onHeadDone = (error) => {
        clearTimeout(timer);
        this.onHeadDone = null;
        if (!error) return resolve();
        this.socket?.destroy();
        reject(error);
      };
      const socket = net.connect({
        host: '127.0.0.1',
        port,
        onread: { buffer: READ_BUFFER, callback: (n) => this.onRead(READ_BUFFER.subarray(0, n)) },
      });
      this.socket = socket;
      socket.once('error', (error) => this.onHeadDone?.(error));
      socket.once('close', () => {
        this.onHeadDone?.(new Error('closed before response head'));
        if (!this.closing) this.sink.onUnexpectedClose();
      });
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
    });
  }

  close(): void {
    this.closing = true;
    this.socket?.destroy();
  }

  /** Always true: keep reading (false would pause the socket). */
  private onRead(chunk: Buffer): boolean {
    if (this.head !== null) {
      this.onHeadBytes(this.head + chunk.toString('latin1'));
      return true;
    }
    const count = this.counter.count(chunk);
    if (count > 0) this.sink.onMessages(count);
    if (this.scanner) {
      const receivedAt = wallNow(); // before scanning, so parse cost is not counted as latency
      const markers = this.scanner.scan(chunk);
      if (markers.length) this.sink.onMarkers(markers, receivedAt);
    }
    return true;
  }

  private onHeadBytes(head: string): void {
    const end = head.indexOf(HEADER_END);
    if (end === -1) {
      this.head = head;
      return;
    }
    this.head = null;
    if (!head.startsWith('HTTP/1.1 200')) {
      this.onHeadDone?.(new Error(head.split('\r\n')[0]));
      return;
    }
    this.onHeadDone?.();
    const rest = Buffer.from(head.slice(end + HEADER_END.length), 'latin1');
    if (rest.length) this.onRead(rest);
  }
}
