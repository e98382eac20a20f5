import createDebug from 'debug';
import type { BrokerMessage } from './broker/broker';
import type { Connection, ConnectionOwner } from './connection';
import { encodeComment, encodeEvent } from './sse';
import { messageOf } from './errors';

const debug = createDebug('turbo-express:hub');

const HEARTBEAT = encodeComment();

/**
 * How the hub checks that a connection's user may still listen. `round` is the same Map for
 * every check of one round, for what is worth doing once per round (resolving each stream).
 */
export type RecheckFn = (connection: Connection, round?: Map<string, unknown>) => Promise<boolean>;

/** Timing options of a hub. */
export interface HubOptions {
  heartbeat: number | null;
  recheckInterval: number | null;
  recheck: RecheckFn;
  /**
   * Milliseconds one re-check may take before it counts as failed; `null` or absent waits for
   * ever.
   */
  checkTimeout?: number | null;
}

/** What a re-check that ran out of time answers, told apart from a plain `false` for the log. */
const TIMED_OUT = Symbol('timed out');

/**
 * The open connections of this process, by stream name. It turns each message from the broker
 * into one SSE frame and queues that same Buffer on every connection of the stream; queued frames
 * are written once per tick. It owns the heartbeat and re-check timers, which run only while
 * some connection is open.
 */
export class Hub implements ConnectionOwner {
  private readonly streams = new Map<string, Connection[]>();
  private readonly dirty: Connection[] = [];
  private isFlushScheduled = false;
  private connectionCount = 0;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private recheckTimer: NodeJS.Timeout | null = null;
  private readonly options: HubOptions;

  constructor(options: HubOptions) {
    this.options = options;
    this.deliver = this.deliver.bind(this);
    this.flushAll = this.flushAll.bind(this);
  }

  /** The number of open connections. */
  get size(): number {
    return this.connectionCount;
  }

  /** The number of streams with at least one open connection. */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Bytes waiting in memory for clients that read slower than messages arrive. */
  get backlog(): number {
    let bytes = 0;
    for (const connections of this.streams.values()) {
      for (const connection of connections) bytes += connection.backlog;
    }
    return bytes;
  }

  /** Whether heartbeat or re-check timers are running. */
  get hasTimers(): boolean {
    return this.heartbeatTimer !== null || this.recheckTimer !== null;
  }

  /** Hands one broker message to every local connection of its stream: encoded once. */
  deliver(message: BrokerMessage): void {
    const connections = this.streams.get(message.stream);
    if (connections === undefined) return;
    const frame = encodeEvent(message.id, message.data);
    // Backwards: a client dropped for its backlog is swapped out for the last one, already served.
    for (let i = connections.length - 1; i >= 0; i--) connections[i].deliver(message.id, frame);
  }

  /** Starts delivering to `connection`. */
  add(connection: Connection): void {
    let connections = this.streams.get(connection.streamName);
    if (connections === undefined) {
      connections = [];
      this.streams.set(connection.streamName, connections);
    }
    connection.slot = connections.length;
    connections.push(connection);
    this.connectionCount += 1;
    if (this.connectionCount === 1) this.startTimers();
  }

  /** Schedules `connection.flush()` for the end of this turn of the event loop. */
  markDirty(connection: Connection): void {
    this.dirty.push(connection);
    if (this.isFlushScheduled) return;
    this.isFlushScheduled = true;
    setImmediate(this.flushAll);
  }

  /** Stops delivering to a closed connection; stops the timers with the last one. */
  forget(connection: Connection): void {
    const connections = this.streams.get(connection.streamName);
    if (connections === undefined || connections[connection.slot] !== connection) return;
    const last = connections.pop()!;
    if (last !== connection) {
      connections[connection.slot] = last;
      last.slot = connection.slot;
    }
    connection.slot = -1;
    if (connections.length === 0) this.streams.delete(connection.streamName);
    this.connectionCount -= 1;
    if (this.connectionCount === 0) this.stopTimers();
  }

  /** Ends every connection and stops the timers. */
  closeAll(): void {
    for (const connections of [...this.streams.values()]) {
      for (const connection of [...connections]) connection.end();
    }
    this.stopTimers();
  }

  private flushAll(): void {
    this.isFlushScheduled = false;
    const dirty = this.dirty;
    for (let i = 0; i < dirty.length; i++) dirty[i].flush();
    dirty.length = 0;
  }

  private startTimers(): void {
    const { heartbeat, recheckInterval } = this.options;
    if (heartbeat !== null) {
      this.heartbeatTimer = setInterval(() => this.sendHeartbeats(), heartbeat);
      // Unref'd: an open stream alone must not keep a process alive that is otherwise done.
      this.heartbeatTimer.unref();
    }
    if (recheckInterval !== null) {
      this.recheckTimer = setInterval(() => void this.recheckAll(), recheckInterval);
      this.recheckTimer.unref();
    }
  }

  private stopTimers(): void {
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    if (this.recheckTimer !== null) clearInterval(this.recheckTimer);
    this.heartbeatTimer = null;
    this.recheckTimer = null;
  }

  private sendHeartbeats(): void {
    for (const connections of [...this.streams.values()]) {
      for (let i = connections.length - 1; i >= 0; i--) connections[i].enqueue(HEARTBEAT);
    }
  }

  /**
   * Checks every open connection whose previous check has finished: a slow `userPassesTest`
   * never overlaps itself on one connection, and one that never settles holds back no other
   * connection's checks (and fails at `checkTimeout`).
   */
  private async recheckAll(): Promise<void> {
    const due: Connection[] = [];
    for (const connections of this.streams.values()) {
      for (const connection of connections) if (!connection.isRechecking) due.push(connection);
    }
    if (due.length === 0) return;
    // Every check of a round starts in this turn, so one timer serves as each check's deadline.
    const timeout = this.options.checkTimeout ?? null;
    let timer: NodeJS.Timeout | undefined;
    const deadline =
      timeout === null
        ? null
        : new Promise<typeof TIMED_OUT>((resolve) => {
            timer = setTimeout(resolve, timeout, TIMED_OUT);
            timer.unref();
          });
    try {
      const round = new Map<string, unknown>();
      await Promise.all(due.map((connection) => this.recheck(connection, round, deadline)));
    } finally {
      clearTimeout(timer);
    }
  }

  private async recheck(
    connection: Connection,
    round: Map<string, unknown>,
    deadline: Promise<typeof TIMED_OUT> | null,
  ): Promise<void> {
    let passes = false;
    connection.isRechecking = true;
    try {
      const check = this.options.recheck(connection, round);
      const answer = deadline === null ? await check : await Promise.race([check, deadline]);
      if (answer === TIMED_OUT) debug('re-check of %s timed out', connection.streamName);
      passes = answer === true;
    } catch (error) {
      debug('re-check of %s threw: %s', connection.streamName, messageOf(error));
    } finally {
      connection.isRechecking = false;
    }
    if (!passes && connection.isOpen) {
      debug('closing %s: user no longer passes', connection.streamName);
      connection.end();
    }
  }
}
