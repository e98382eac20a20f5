import crypto from 'node:crypto';
import createDebug from 'debug';
import {
  DEFAULT_HISTORY,
  type Broker,
  type BrokerMessage,
  type DeliverFn,
  type HistoryOptions,
} from './broker';

const debug = createDebug('turbo-express:broker:memory');

interface Entry extends BrokerMessage {
  readonly seq: number;
  readonly at: number;
}

interface StreamHistory {
  entries: Entry[];
  /** The seq of the newest entry dropped because the history was full. */
  evictedUpTo: number;
}

/**
 * The in-process broker, the default: delivery within one Node process, history in memory.
 *
 * Ids read `<epoch>-<seq>`. The epoch is new for each broker, so an id from before a restart is
 * recognised as foreign and answered with a gap. `seq` counts messages across all streams, which
 * makes `position()` valid for any stream.
 */
export class MemoryBroker implements Broker {
  private readonly epoch = crypto.randomBytes(4).toString('hex');
  private readonly size: number;
  private readonly maxAge: number;
  private readonly histories = new Map<string, StreamHistory>();
  private deliver: DeliverFn | null = null;
  private seq = 0;
  /** Every entry with a seq at or below this was dropped for age, in every stream. */
  private expiredUpTo = 0;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(history: HistoryOptions = {}) {
    this.size = history.size ?? DEFAULT_HISTORY.size;
    this.maxAge = history.maxAge ?? DEFAULT_HISTORY.maxAge;
  }

  start(deliver: DeliverFn): void {
    this.deliver = deliver;
    const sweepEvery = Math.max(1000, Math.min(this.maxAge, 60_000));
    this.sweepTimer = setInterval(() => this.expire(Date.now()), sweepEvery);
    this.sweepTimer.unref();
  }

  async publish(stream: string, data: string): Promise<BrokerMessage> {
    return this.publishNow(stream, data);
  }

  /** Publishes synchronously: the in-process broker never waits for anything. */
  publishNow(stream: string, data: string): BrokerMessage {
    this.seq += 1;
    const entry: Entry = { stream, id: `${this.epoch}-${this.seq}`, data, seq: this.seq, at: Date.now() };
    this.record(entry);
    this.deliver?.(entry);
    return entry;
  }

  position(): string {
    return `${this.epoch}-${this.seq}`;
  }

  async replay(stream: string, afterId: string): Promise<BrokerMessage[] | null> {
    const after = this.parse(afterId);
    if (after === null || after > this.seq) return null;
    this.expire(Date.now());
    if (after < this.expiredUpTo) return null;

    const history = this.histories.get(stream);
    if (history === undefined) return [];
    if (after < history.evictedUpTo) return null;
    return history.entries.filter((entry) => entry.seq > after);
  }

  async close(): Promise<void> {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.deliver = null;
  }

  private record(entry: Entry): void {
    if (this.size === 0 || this.maxAge === 0) {
      this.expiredUpTo = entry.seq;
      return;
    }
    let history = this.histories.get(entry.stream);
    if (history === undefined) {
      history = { entries: [], evictedUpTo: 0 };
      this.histories.set(entry.stream, history);
    }
    history.entries.push(entry);
    if (history.entries.length > this.size) {
      const dropped = history.entries.shift()!;
      history.evictedUpTo = dropped.seq;
    }
  }

  /** Drops entries older than maxAge; ages grow with seq, so one cut point covers all streams. */
  private expire(now: number): void {
    const cutoff = now - this.maxAge;
    for (const [stream, history] of this.histories) {
      const { entries } = history;
      let kept = 0;
      while (kept < entries.length && entries[kept].at <= cutoff) kept += 1;
      if (kept === 0) continue;
      this.expiredUpTo = Math.max(this.expiredUpTo, entries[kept - 1].seq);
      if (kept === entries.length) this.histories.delete(stream);
      else entries.splice(0, kept);
    }
    debug('expired up to %d', this.expiredUpTo);
  }

  private parse(id: string): number | null {
    const dash = id.lastIndexOf('-');
    if (dash <= 0 || id.slice(0, dash) !== this.epoch) return null;
    const seq = Number(id.slice(dash + 1));
    return Number.isSafeInteger(seq) && seq >= 0 ? seq : null;
  }
}
