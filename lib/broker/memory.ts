import crypto from 'node:crypto';
import createDebug from 'debug';
import { ErrorCodes, TurboExpressError } from '../errors';
import {
  DEFAULT_HISTORY,
  type Broker,
  type BrokerMessage,
  type DeliverFn,
  type HistoryOptions,
} from './broker';
import { ByteLog } from './byte-log';

const debug = createDebug('turbo-express:broker:memory');

/** A seq as ids carry it: digits only, so that "0x10", "1e3" or " 5" are refused, not read. */
const SEQ = /^(0|[1-9][0-9]{0,15})$/;

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
  private readonly histories = new Map<string, ByteLog>();
  private deliver: DeliverFn | null = null;
  private seq = 0;
  /** The newest seq of the histories forgotten for age: a stream without history lost up to it. */
  private forgottenUpTo = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** Bytes of message data (UTF-8) held across every history, bounded by `maxBytes`. */
  private heldBytes = 0;
  /** Bytes of the texts kept decoded for replays, until the next sweep; at most `maxBytes`. */
  private keptTextBytes = 0;
  private readonly maxBytes: number;
  /** The stream published to last, already at the end of `histories`. */
  private newestStream: string | null = null;

  /**
   * @param history How much to keep per stream; see {@link HistoryOptions}.
   * @param options `maxBytes`: the most message data kept across all streams; past it the
   *   histories of the streams that published least recently are forgotten (their clients get a
   *   refresh instead of a replay). Defaults to 67,108,864 (64 MiB).
   */
  constructor(history: HistoryOptions = {}, options: { maxBytes?: number | undefined } = {}) {
    this.size = wholeNumber(history.size, 'size', DEFAULT_HISTORY.size);
    this.maxAge = wholeNumber(history.maxAge, 'maxAge', DEFAULT_HISTORY.maxAge);
    this.maxBytes = wholeNumber(options.maxBytes, 'maxBytes', 64 * 1024 * 1024);
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
    this.record(stream, this.seq, data);
    const message: BrokerMessage = { stream, id: `${this.epoch}-${this.seq}`, data };
    this.deliver?.(message);
    return message;
  }

  position(): string {
    return `${this.epoch}-${this.seq}`;
  }

  async replay(stream: string, afterId: string): Promise<BrokerMessage[] | null> {
    const after = this.parse(afterId);
    if (after === null || after > this.seq) return null;
    // Only this stream is aged here: a reconnect storm must not scan every history each time.
    const found = this.histories.get(stream);
    if (found !== undefined) this.expireHistory(stream, found, Date.now() - this.maxAge);

    const history = this.histories.get(stream);
    if (history === undefined) return after < this.forgottenUpTo ? null : [];
    if (after < history.lostUpTo) return null;
    // Texts decoded for one client are kept for the others, up to maxBytes of them in all.
    const missed = this.change(history, () =>
      history.after(after, Math.max(0, this.maxBytes - this.keptTextBytes)),
    );
    return missed.map(({ seq, data }) => ({ stream, id: `${this.epoch}-${seq}`, data }));
  }

  compareIds(a: string, b: string): number | null {
    const [first, second] = [this.parse(a), this.parse(b)];
    return first === null || second === null ? null : first - second;
  }

  async close(): Promise<void> {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.deliver = null;
  }

  private record(stream: string, seq: number, data: string): void {
    let history = this.histories.get(stream);
    if (history === undefined) {
      history = new ByteLog(this.forgottenUpTo);
      this.histories.set(stream, history);
    } else if (stream !== this.newestStream) {
      // Moved to the end: the map runs from the least recently published stream.
      this.histories.delete(stream);
      this.histories.set(stream, history);
    }
    this.newestStream = stream;
    if (this.size === 0 || this.maxAge === 0) {
      history.skip(seq);
      return;
    }
    this.change(history, () => {
      history.push(seq, Date.now(), data);
      if (history.length > this.size) history.dropOldest();
    });
    this.forgetPastMaxBytes();
  }

  /** Runs `fn` on `history`, keeping the totals of bytes and kept texts up to date. */
  private change<T>(history: ByteLog, fn: () => T): T {
    const held = history.heldBytes;
    const kept = history.keptTextBytes;
    const result = fn();
    this.heldBytes += history.heldBytes - held;
    this.keptTextBytes += history.keptTextBytes - kept;
    return result;
  }

  /** Forgets the histories of the streams that published least recently, down to `maxBytes`. */
  private forgetPastMaxBytes(): void {
    while (this.heldBytes > this.maxBytes && this.histories.size > 0) {
      const [oldest, oldestHistory] = this.histories.entries().next().value as [string, ByteLog];
      oldestHistory.lostUpTo = oldestHistory.newestSeq;
      this.forget(oldest, oldestHistory);
    }
  }

  private forget(stream: string, history: ByteLog): void {
    this.heldBytes -= history.heldBytes;
    this.keptTextBytes -= history.keptTextBytes;
    this.forgottenUpTo = Math.max(this.forgottenUpTo, history.lostUpTo);
    this.histories.delete(stream);
    debug('forgot the history of %s up to %d', stream, history.lostUpTo);
  }

  /**
   * Drops entries older than maxAge. A history left empty is forgotten, so that streams used once
   * do not pile up; `forgottenUpTo` remembers how far such histories reached. The others give
   * back the memory their decoded texts and oversized buffers hold.
   */
  private expire(now: number): void {
    const cutoff = now - this.maxAge;
    for (const [stream, history] of this.histories) {
      this.expireHistory(stream, history, cutoff);
      if (history.length > 0) this.change(history, () => history.compact());
    }
  }

  private expireHistory(stream: string, history: ByteLog, cutoff: number): void {
    this.change(history, () => {
      while (history.oldestAt <= cutoff) history.dropOldest();
    });
    if (history.length === 0) this.forget(stream, history);
  }

  private parse(id: string): number | null {
    const dash = id.lastIndexOf('-');
    if (dash <= 0 || id.slice(0, dash) !== this.epoch) return null;
    const digits = id.slice(dash + 1);
    return SEQ.test(digits) ? Number(digits) : null;
  }
}

function wholeNumber(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TurboExpressError(
      ErrorCodes.INVALID_OPTION,
      `MemoryBroker: ${name === 'maxBytes' ? name : `history.${name}`} ` +
        'must be a whole number of at least 0',
    );
  }
  return value;
}
