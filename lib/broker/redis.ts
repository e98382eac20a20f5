import crypto from 'node:crypto';
import createDebug from 'debug';
import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import { ErrorCodes, TurboExpressError, messageOf } from '../errors';
import {
  compareDecimal,
  DEFAULT_HISTORY,
  type Broker,
  type BrokerErrorFn,
  type BrokerMessage,
  type DeliverFn,
  type HistoryOptions,
} from './broker';
import { historyBound, loadPeer, pause, reportBrokerError } from './peer';
import {
  PUBLISH_SCRIPT,
  RECONNECTED_SCRIPT,
  REPLAY_SCRIPT,
  START_SCRIPT,
  type LuaScript,
} from './redis-scripts';

const debug = createDebug('turbo-express:broker:redis');

/**
 * ioredis connection options (`host`, `port`, `password`, `tls`, ...). Typed loosely so that apps
 * without ioredis still type-check the package; they are handed to ioredis as they are.
 */
export type RedisConnectionOptions = { [option: string]: unknown };

/** Options of {@link RedisBroker}. */
export interface RedisBrokerOptions {
  /**
   * Starts every key the broker writes. Apps sharing one Redis use one prefix per app; processes
   * of one app must use the same. Defaults to `'turbo-express'`.
   */
  prefix?: string;
  /** How much history each stream keeps for replay. Defaults to 100 messages, 5 minutes. */
  history?: HistoryOptions;
  /**
   * About how many messages the shared log keeps for processes that fall behind (it is trimmed
   * with `MAXLEN ~`). A process further behind than this misses messages and reports it through
   * `onError`. Defaults to 10,000.
   */
  logSize?: number;
  /**
   * Milliseconds a publish or replay may wait for Redis before it fails. Defaults to 5,000.
   */
  commandTimeout?: number;
}

/**
 * How long one blocking read waits before it is sent again; also bounds how long close() waits
 * and how late a process notices a log that was recreated with ids below the ones it read.
 */
const READ_BLOCK = 1_000;
const READ_BATCH = 500;
/** Ids read `<epoch>:<ms>-<n>`: the epoch of the broker's keys, then the Redis Stream id. */
const ID = /^([0-9a-f]{16}):((?:0|[1-9][0-9]{0,14})-(?:0|[1-9][0-9]{0,14}))$/;

/**
 * A broker for several processes, through Redis (5.0 or newer for Streams, 6.2 or newer for the
 * exclusive ranges replay uses). Needs the `ioredis` package.
 *
 * Every message goes, in one Lua script, into a log that every process reads with `XREAD BLOCK`
 * and into the history of its stream; both hold it under the same id, so the position of a process
 * (the newest log id it has read) is valid for the replay of any stream. Histories are trimmed to
 * `history.size` and `history.maxAge`, and the broker records how far, so a replay that reaches
 * into trimmed history is answered with `null` (a refresh), never with less than was sent.
 *
 * Ids read `<epoch>:<ms>-<n>`. The epoch lives in Redis, so it changes when Redis is flushed or
 * restarted without persistence, and ids from before then replay as a gap.
 *
 * The broker opens two connections (one for commands, one blocked reading the log) and closes them
 * in `close()`. While Redis is unreachable, `publish` rejects at once (the broadcaster reports it
 * to `onError`; nothing is buffered), replay rejects (the subscriber gets a refresh), the reader
 * retries, and when Redis is back it delivers whatever the log holds beyond what it had read.
 *
 * @example
 * turboStreams({ broker: new RedisBroker(process.env.REDIS_URL) })
 */
export class RedisBroker implements Broker {
  private readonly commands: RedisClient;
  private readonly reader: RedisClient;
  private readonly keys: { epoch: string; seq: string; log: string; first: string; server: string };
  private readonly prefix: string;
  private readonly size: number;
  private readonly maxAge: number;
  private readonly logSize: number;
  private deliver: DeliverFn | null = null;
  private onError: BrokerErrorFn = () => {};
  private onMissed: () => void = () => {};
  private epoch = 'none';
  /** The id of the last entry delivered: the position pages are rendered at, and replays end at. */
  private lastId = '0-0';
  /** Where the reader goes on reading the log: past every entry seen, delivered or skipped. */
  private readFrom = '0-0';
  /** The seq of the last entry read; null when a new epoch made it unknown. */
  private lastSeq: number | null = 0;
  /** Epochs this process has moved past: their entries, read again, are not news. */
  private readonly retired = new Set<string>();
  private isRunning = false;
  private readLoop: Promise<void> = Promise.resolve();
  private readonly unreachable = new Set<RedisClient>();

  /**
   * @param connection A `redis://` URL or ioredis options. Defaults to `redis://127.0.0.1:6379`.
   * @param options The key prefix, history bounds and timeouts; see {@link RedisBrokerOptions}.
   */
  constructor(
    connection: string | RedisConnectionOptions = 'redis://127.0.0.1:6379',
    options: RedisBrokerOptions = {},
  ) {
    const name = 'RedisBroker';
    const history = options.history ?? {};
    this.size = historyBound(history.size, name, 'history.size', DEFAULT_HISTORY.size);
    this.maxAge = historyBound(history.maxAge, name, 'history.maxAge', DEFAULT_HISTORY.maxAge);
    this.logSize = historyBound(options.logSize, name, 'logSize', 10_000, 1);
    const commandTimeout = historyBound(options.commandTimeout, name, 'commandTimeout', 5_000, 1);
    this.prefix = options.prefix ?? 'turbo-express';
    if (typeof this.prefix !== 'string' || this.prefix === '') {
      throw new TurboExpressError(
        ErrorCodes.INVALID_OPTION,
        'RedisBroker: prefix must be a non-empty string',
      );
    }
    this.keys = {
      epoch: `${this.prefix}:epoch`,
      seq: `${this.prefix}:seq`,
      log: `${this.prefix}:log`,
      first: `${this.prefix}:first`,
      server: `${this.prefix}:server`,
    };

    const Redis = loadPeer<typeof import('ioredis')>('ioredis', name).Redis;
    const open = (overrides: RedisOptions) =>
      typeof connection === 'string'
        ? new Redis(connection, { ...overrides, lazyConnect: true })
        : new Redis({ ...(connection as RedisOptions), ...overrides, lazyConnect: true });
    // Commands fail fast while Redis is away rather than wait in a queue: a publish waits in the
    // app's serial broadcast queue, and a replay holds a subscriber. They are not sent twice
    // either, since a publish whose answer was lost may have been applied.
    this.commands = open({
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout,
    });
    // The reader waits out an outage and resumes reading where it stopped.
    this.reader = open({ maxRetriesPerRequest: null, commandTimeout: undefined });
    for (const client of [this.commands, this.reader]) this.watch(client);
  }

  async start(deliver: DeliverFn, onError: BrokerErrorFn, onMissed?: () => void): Promise<void> {
    this.deliver = deliver;
    this.onError = onError;
    this.onMissed = onMissed ?? (() => {});
    this.isRunning = true;
    // Redis may be away at boot: wait for it, as ioredis keeps trying, rather than fail for good.
    await Promise.all([whenReady(this.reader), whenReady(this.commands)]);
    const [epoch, lastId, lastSeq] = (await this.run(
      START_SCRIPT,
      [this.keys.epoch, this.keys.seq, this.keys.log, this.keys.server],
      [newEpoch(), await this.serverRunId()],
    )) as [string, string, string];
    this.epoch = epoch;
    this.lastId = lastId;
    this.readFrom = lastId;
    this.lastSeq = Number(lastSeq);
    debug('started at %s:%s', epoch, lastId);
    this.readLoop = this.readForever();
  }

  async publish(stream: string, data: string): Promise<BrokerMessage> {
    const [historyKey, floorKey] = this.streamKeys(stream);
    const keys = [
      this.keys.epoch,
      this.keys.seq,
      this.keys.log,
      historyKey,
      floorKey,
      this.keys.first,
    ];
    const args = [stream, data, this.size, this.maxAge, this.logSize, newEpoch()];
    const [epoch, id] = (await this.run(PUBLISH_SCRIPT, keys, args)) as [string, string];
    return { stream, id: `${epoch}:${id}`, data };
  }

  position(): string {
    return `${this.epoch}:${this.lastId}`;
  }

  async replay(stream: string, afterId: string): Promise<BrokerMessage[] | null> {
    const parsed = ID.exec(afterId);
    if (parsed === null || parsed[1] !== this.epoch) return null;
    const [, epoch, after] = parsed;

    // Only what this process has already delivered: later messages reach the subscriber live, and
    // sending them here as well would send them twice.
    const [historyKey, floorKey] = this.streamKeys(stream);
    const entries = (await this.run(
      REPLAY_SCRIPT,
      [this.keys.epoch, historyKey, floorKey, this.keys.first, this.keys.seq, this.keys.log],
      [epoch, after, this.lastId, this.size, this.maxAge],
    )) as [string, string[]][] | null;
    if (entries === null) return null;
    return entries.map(([id, fields]) => ({ stream, id: `${epoch}:${id}`, data: fields[1] }));
  }

  compareIds(a: string, b: string): number | null {
    const [first, second] = [ID.exec(a), ID.exec(b)];
    if (first === null || second === null || first[1] !== second[1]) return null;
    const [firstMs, firstSeq] = first[2].split('-');
    const [secondMs, secondSeq] = second[2].split('-');
    return compareDecimal(firstMs, secondMs) || compareDecimal(firstSeq, secondSeq);
  }

  async close(): Promise<void> {
    this.isRunning = false;
    this.deliver = null;
    this.commands.disconnect();
    this.reader.disconnect();
    await this.readLoop;
  }

  private streamKeys(stream: string): [string, string] {
    return [`${this.prefix}:history:${stream}`, `${this.prefix}:floor:${stream}`];
  }

  private async readForever(): Promise<void> {
    while (this.isRunning) {
      let reply: unknown;
      try {
        reply = await this.reader.call(
          'XREAD',
          'COUNT',
          READ_BATCH,
          'BLOCK',
          READ_BLOCK,
          'STREAMS',
          this.keys.log,
          this.readFrom,
        );
      } catch (error) {
        if (!this.isRunning) return;
        debug('read failed: %s', messageOf(error));
        await pause(250);
        continue;
      }
      const streams = reply as [string, [string, string[]][]][] | null;
      if (streams !== null) for (const [id, fields] of streams[0][1]) this.accept(id, fields);
      else await this.noticeNewEpoch();
    }
  }

  /**
   * Run when a read finds nothing new: a log deleted (flush) and written again may restart at ids
   * no newer than the last one read, which `XREAD` would never return, so a changed or missing
   * epoch key moves this process to the epoch in force and reads the log again from its start.
   */
  private async noticeNewEpoch(): Promise<void> {
    const epoch = await this.reader.get(this.keys.epoch).catch(() => undefined);
    if (epoch === undefined || epoch === this.epoch) return;
    // Gone (FLUSHALL, a restart without persistence) or replaced: agree on the one now in force.
    await this.syncEpoch();
  }

  /** Delivers one log entry, noticing a new epoch or entries the log dropped before reading. */
  private accept(id: string, fields: string[]): void {
    const entry = fieldsOf(fields);
    const seq = Number(entry.n);
    this.readFrom = id;
    if (entry.e !== this.epoch) {
      if (this.retired.has(entry.e)) return; // Written under an epoch already left behind.
      debug('new epoch %s (was %s): Redis was flushed or restarted', entry.e, this.epoch);
      this.adoptEpoch(entry.e, false);
    } else if (this.lastSeq !== null && seq <= this.lastSeq) {
      // Numbers already read come again: Redis went back to an older state of the same keys.
      this.report('RedisBroker: the log went back to an older state (Redis restored a snapshot)');
      this.onMissed();
    } else if (this.lastSeq !== null && seq > this.lastSeq + 1) {
      this.report(
        `RedisBroker: ${seq - this.lastSeq - 1} message(s) left the log ` +
          'before this process read them; raise logSize',
      );
      // Their streams' histories may still hold them: subscribers reconnect and replay.
      this.onMissed();
    }
    this.lastId = id;
    this.lastSeq = seq;
    this.deliver?.({ stream: entry.s, id: `${entry.e}:${id}`, data: entry.d });
  }

  /**
   * Moves to a new epoch (FLUSHALL, a restart, a failover), which may have lost messages this
   * process never read, and whose ids its clients do not have: they reconnect and get a refresh.
   * Met in the log, reading goes on from there; learnt from the epoch key, the log is read again
   * from its start (a new log's first ids may not come after the old log's last one), skipping
   * what older epochs wrote.
   */
  private adoptEpoch(epoch: string, rereadLog: boolean): void {
    this.retired.add(this.epoch);
    this.retired.delete(epoch);
    this.epoch = epoch;
    this.lastSeq = null;
    // The new log may number its entries below the old one's (a fresh server whose clock is
    // behind): its position starts at its beginning. Replays leave out the old epoch's entries.
    if (rereadLog) {
      this.readFrom = '0-0';
      this.lastId = '0-0';
    }
    this.report('RedisBroker: Redis was flushed or restarted; pages reconnect and refresh');
    this.onMissed();
  }

  /** The `run_id` of the Redis server, which changes with each restart; '' if INFO is refused. */
  private async serverRunId(): Promise<string> {
    try {
      const info = String(await this.commands.call('INFO', 'server'));
      return /^run_id:([0-9a-f]+)/m.exec(info)?.[1] ?? '';
    } catch (error) {
      debug('INFO server failed: %s', messageOf(error));
      return '';
    }
  }

  /**
   * Agrees with Redis on the epoch in force, giving the keys a new one if the server restarted
   * since they last saw it or the epoch key is gone. Run after a reconnection and when the epoch
   * key changed while the log was quiet.
   */
  private async syncEpoch(): Promise<void> {
    try {
      const epoch = (await this.run(
        RECONNECTED_SCRIPT,
        [this.keys.epoch, this.keys.server],
        [newEpoch(), await this.serverRunId()],
      )) as string;
      if (epoch !== this.epoch && this.isRunning) this.adoptEpoch(epoch, true);
    } catch (error) {
      debug('epoch check failed: %s', messageOf(error));
    }
  }

  private async run(
    script: LuaScript,
    keys: string[],
    args: (string | number)[],
  ): Promise<unknown> {
    try {
      return await this.commands.call('EVALSHA', script.sha, script.keyCount, ...keys, ...args);
    } catch (error) {
      if (!messageOf(error).startsWith('NOSCRIPT')) throw error;
      return this.commands.call('EVAL', script.source, script.keyCount, ...keys, ...args);
    }
  }

  /** Reports a lost connection once per outage; ioredis reconnects by itself. */
  private watch(client: RedisClient): void {
    client.on('error', (error: Error) => {
      debug('connection error: %s', error.message);
      if (!this.isRunning || this.unreachable.has(client)) return;
      this.unreachable.add(client);
      if (this.unreachable.size === 1)
        this.report(
          `RedisBroker: lost the connection to Redis (${error.message}); retrying`,
          error,
        );
    });
    let hasBeenReady = false;
    client.on('ready', () => {
      if (this.unreachable.delete(client)) debug('connection back');
      if (hasBeenReady && client === this.commands && this.isRunning) void this.syncEpoch();
      hasBeenReady = true;
    });
  }

  private report(message: string, cause?: unknown): void {
    reportBrokerError(this.onError, debug, message, cause);
  }
}

/** Connects `client` and resolves once it is ready, however many attempts that takes. */
function whenReady(client: RedisClient): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = () => {
      client.off('end', onEnd);
      resolve();
    };
    const onEnd = () => {
      client.off('ready', onReady);
      reject(
        new TurboExpressError(
          ErrorCodes.BROKER_FAILED,
          'RedisBroker: closed before Redis was reached',
        ),
      );
    };
    client.once('ready', onReady);
    client.once('end', onEnd);
    // A failed first attempt rejects here, but ioredis goes on retrying: 'ready' or 'end' decides.
    client.connect().catch(() => {});
  });
}

function newEpoch(): string {
  return crypto.randomBytes(8).toString('hex');
}

function fieldsOf(fields: string[]): Record<string, string> {
  const entry: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) entry[fields[i]] = fields[i + 1];
  return entry;
}
