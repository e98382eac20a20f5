/**
 * The set of open subscribers. Grows and shrinks between measurements so one server process
 * serves the whole sequence; an evenly spread sample times messages (fan-out order matters:
 * the last socket written gets the message last).
 */
import { wallNow } from '../clock';
import { MarkerScanner } from './marker-scanner';
import { Subscriber, type SubscriberSink } from './subscriber';

const CONNECT_BATCH = 200;
const CONNECT_TIMEOUT_MS = 15_000;

export class SubscriberPool implements SubscriberSink {
  private subscribers: Subscriber[] = [];
  /** Messages seen by all subscribers since the last reset. */
  messages = 0;
  lastMessageAt = 0;
  unexpectedCloses = 0;
  latencies: number[] = [];
  private minSeq = 0;
  private target = Infinity;
  private onTarget: (() => void) | null = null;

  constructor(
    private readonly port: number,
    private readonly path: string,
  ) {}

  get size(): number {
    return this.subscribers.length;
  }

  /** Open or close sockets until `total` are connected. Closes the newest first. */
  async resize(total: number): Promise<{ size: number; failed: number }> {
    while (this.subscribers.length > total) this.subscribers.pop()!.close();
    let failed = 0;
    while (this.subscribers.length < total && failed < 100) {
      const batch = Math.min(CONNECT_BATCH, total - this.subscribers.length);
      const pending = Array.from({ length: batch }, () => new Subscriber(this));
      const results = await Promise.allSettled(
        pending.map((s) => s.connect(this.port, this.path, CONNECT_TIMEOUT_MS)),
      );
      results.forEach((r, i) =>
        r.status === 'fulfilled' ? this.subscribers.push(pending[i]) : failed++,
      );
    }
    return { size: this.subscribers.length, failed };
  }

  /** Mark up to `count` subscribers, spread evenly over connection order, for latency parsing. */
  sample(count: number): void {
    const n = this.subscribers.length;
    const step = n / Math.min(count, n);
    this.subscribers.forEach((s) => (s.scanner = null));
    for (let i = 0; i < Math.min(count, n); i++) {
      this.subscribers[Math.floor(i * step)].scanner = new MarkerScanner();
    }
  }

  /** Start a measurement: zero counters and ignore markers older than `minSeq`. */
  reset(minSeq: number): void {
    this.messages = 0;
    this.latencies = [];
    this.minSeq = minSeq;
    this.target = Infinity;
  }

  /** Wait until `count` messages arrived in total; returns false on timeout. */
  waitForMessages(count: number, timeoutMs: number): Promise<boolean> {
    if (this.messages >= count) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.onTarget = null;
        this.target = Infinity;
        resolve(ok);
      };
      this.target = count;
      this.onTarget = () => done(true);
    });
  }

  /** Wait until no message has arrived for `quietMs` (leftovers of the previous step). */
  async settle(quietMs: number, maxMs: number): Promise<void> {
    const deadline = wallNow() + maxMs;
    while (wallNow() < deadline && wallNow() - this.lastMessageAt < quietMs) {
      await new Promise((r) => setTimeout(r, quietMs / 4));
    }
  }

  closeAll(): void {
    for (const s of this.subscribers) s.close();
    this.subscribers = [];
  }

  onMessages(count: number): void {
    this.messages += count;
    this.lastMessageAt = wallNow();
    if (this.messages >= this.target) this.onTarget?.();
  }

  onMarkers(markers: Array<[number, number]>, receivedAt: number): void {
    for (const [seq, sentAt] of markers) {
      if (seq >= this.minSeq) this.latencies.push(receivedAt - sentAt);
    }
  }

  onUnexpectedClose(): void {
    this.unexpectedCloses++;
  }
}
