/** One message as the broker sees it: which stream, its id there, and the Turbo Stream HTML. */
export interface BrokerMessage {
  /** The stream name. */
  readonly stream: string;
  /** The id the broker gave it: strictly increasing per stream, opaque to everyone else. */
  readonly id: string;
  /** One or more `<turbo-stream>` elements. */
  readonly data: string;
}

/** Receives every message the broker delivers to this process, in order per stream. */
export type DeliverFn = (message: BrokerMessage) => void;

/** Receives errors the broker meets on its own, such as a lost connection. */
export type BrokerErrorFn = (error: Error) => void;

/**
 * Delivery of messages between the processes of an app. The broker knows frames and ids, not Pug
 * or Sequelize: it numbers each message within its stream, keeps a bounded history for replay, and
 * hands each message to every process that started it.
 *
 * Ids are opaque strings. A broker must answer `replay` with `null` whenever it cannot prove that
 * it returns every message after the given id: an id from another epoch (a restarted process, a
 * flushed server), an evicted one, or one it cannot parse.
 */
export interface Broker {
  /**
   * Begins delivery to `deliver`. Called once, by `turboStreams()`. A broker that finds it missed
   * messages it can no longer deliver calls `onMissed`: every local subscriber is then
   * disconnected, to reconnect and replay from the broker's history (or refresh).
   */
  start(deliver: DeliverFn, onError: BrokerErrorFn, onMissed?: () => void): Promise<void> | void;
  /** Numbers and records the message, then delivers it to every started process. */
  publish(stream: string, data: string): Promise<BrokerMessage>;
  /**
   * The id of the newest message this process knows of, across all streams. Any stream's
   * replay accepts it: a page rendered now replays from here when it subscribes.
   */
  position(): string;
  /** Every message of `stream` after `afterId`, in order; `null` when history has a gap. */
  replay(stream: string, afterId: string): Promise<BrokerMessage[] | null>;
  /** Stops delivery and releases connections and timers. */
  close(): Promise<void>;
  /**
   * Orders two ids of this broker: negative when `a` came first, zero when equal, positive when
   * `a` came later, `null` when they cannot be compared (another epoch, unparseable). Optional:
   * with it, a client that reconnects to a process which has not yet read what the client already
   * saw elsewhere is not sent those messages twice.
   */
  compareIds?(a: string, b: string): number | null;
}

/** Compares two non-negative integers written in decimal, of any length. */
export function compareDecimal(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

/** How much history a broker keeps for replay. */
export interface HistoryOptions {
  /** The most messages kept per stream. Defaults to 100. */
  size?: number;
  /** The longest a message is kept, in milliseconds. Defaults to 300,000 (five minutes). */
  maxAge?: number;
}

/** The history bounds used when none are given. */
export const DEFAULT_HISTORY: Readonly<Required<HistoryOptions>> = Object.freeze({
  size: 100,
  maxAge: 5 * 60 * 1000,
});
