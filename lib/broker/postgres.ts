import crypto from 'node:crypto';
import createDebug from 'debug';
import type { Client, Pool, PoolClient, PoolConfig } from 'pg';
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
import { postgresStatements, type PostgresStatements } from './postgres-sql';

const debug = createDebug('turbo-express:broker:postgres');

/**
 * pg pool options (`host`, `user`, `connectionString`, `ssl`, ...). Typed loosely so that apps
 * without pg still type-check the package; they are handed to pg as they are.
 */
export type PostgresConnectionOptions = { [option: string]: unknown };

/** Options of {@link PostgresBroker}. */
export interface PostgresBrokerOptions {
  /**
   * The table messages are kept in, optionally schema-qualified; a second table, `<table>_floors`,
   * records how far histories were trimmed. Both are created when missing. It also names the
   * NOTIFY channel. Defaults to `'turbo_express_messages'`.
   */
  table?: string;
  /** How much history each stream keeps for replay. Defaults to 100 messages, 5 minutes. */
  history?: HistoryOptions;
  /** Milliseconds a publish may wait for a connection before it fails. Defaults to 5,000. */
  connectionTimeout?: number;
}

const NUL = /\0/g;

/** Ids read `<epoch>:<n>`: the epoch of the table, then the row's id. */
const ID = /^([0-9a-f]{16}):(0|[1-9][0-9]{0,15})$/;
const FETCH_BATCH = 500;
const RECONNECT_FIRST = 250;
const RECONNECT_MAX = 5_000;

/**
 * A broker for several processes, through PostgreSQL (LISTEN/NOTIFY and one table). Needs the
 * `pg` package.
 *
 * Publishing inserts a row and sends `NOTIFY` with its id only, so messages of any size pass (a
 * NOTIFY payload is capped near 8,000 bytes); each process then reads the new rows. Inserts are
 * serialized with a transaction-level advisory lock, so rows commit in id order and a process
 * that has read row N has seen every row before it: ids are strictly increasing in commit order,
 * across all streams, and the id of the newest row a process has read is valid for any stream's
 * replay. Every process prunes the table to `history.size` per stream and `history.maxAge`,
 * recording how far, so a replay reaching into pruned rows answers `null` (a refresh).
 *
 * Ids read `<epoch>:<n>`. The epoch is a row of the table itself (id 0), so truncating the table
 * starts a new epoch and ids from before then replay as a gap.
 *
 * The broker uses a pool for publishing and replay and one more connection for LISTEN, and ends
 * them in `close()`. While PostgreSQL is unreachable, `publish` rejects (the broadcaster reports it
 * to `onError`; nothing is buffered), replay rejects (the subscriber gets a refresh), and the
 * listener reconnects with backoff, then reads every row it missed.
 *
 * @example
 * turboStreams({ broker: new PostgresBroker(process.env.DATABASE_URL) })
 */
export class PostgresBroker implements Broker {
  private readonly pg: typeof import('pg');
  private readonly pool: Pool;
  private readonly config: PoolConfig;
  private readonly sql: PostgresStatements;
  private readonly size: number;
  private readonly maxAge: number;
  private listener: Client | null = null;
  private deliver: DeliverFn | null = null;
  private onError: BrokerErrorFn = () => {};
  private onMissed: () => void = () => {};
  private epoch = 'none';
  private lastId = 0;
  /** The newest pruned id this process has already told its clients it missed. */
  private missedUpTo = 0;
  private isRunning = false;
  private isDown = false;
  private fetching: Promise<void> | null = null;
  private fetchAgain = false;
  private reconnecting: Promise<void> | null = null;
  private pruneTimer: NodeJS.Timeout | null = null;

  /**
   * @param connection A `postgres://` URL or pg pool options. Defaults to the `PG*` environment
   *   variables, as pg reads them.
   * @param options The table, history bounds and timeout; see {@link PostgresBrokerOptions}.
   */
  constructor(
    connection: string | PostgresConnectionOptions = {},
    options: PostgresBrokerOptions = {},
  ) {
    const name = 'PostgresBroker';
    const history = options.history ?? {};
    this.size = historyBound(history.size, name, 'history.size', DEFAULT_HISTORY.size);
    this.maxAge = historyBound(history.maxAge, name, 'history.maxAge', DEFAULT_HISTORY.maxAge);
    const timeout = historyBound(options.connectionTimeout, name, 'connectionTimeout', 5_000, 1);
    const table = options.table ?? 'turbo_express_messages';
    if (typeof table !== 'string' || !/^([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]{0,40}$/.test(table)) {
      throw new TurboExpressError(
        ErrorCodes.INVALID_OPTION,
        'PostgresBroker: table must be a lower-case SQL name, optionally schema-qualified; ' +
          `got ${String(table)}`,
      );
    }
    this.sql = postgresStatements(table);

    this.pg = loadPeer<typeof import('pg')>('pg', name);
    const base: PoolConfig =
      typeof connection === 'string'
        ? { connectionString: connection }
        : (connection as PoolConfig);
    this.config = { connectionTimeoutMillis: timeout, ...base };
    this.pool = new this.pg.Pool(this.config);
    // An idle pooled connection that dies emits here; without a listener it would crash the app.
    this.pool.on('error', (error) => this.lost(error));
  }

  async start(deliver: DeliverFn, onError: BrokerErrorFn, onMissed?: () => void): Promise<void> {
    this.deliver = deliver;
    this.onError = onError;
    this.onMissed = onMissed ?? (() => {});
    this.isRunning = true;
    // PostgreSQL may be away at boot: wait for it, reporting once, rather than fail for good.
    let delay = RECONNECT_FIRST;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.prepare();
        break;
      } catch (error) {
        if (!this.isRunning) return; // Closed while waiting: nothing to start.
        if (attempt === 1)
          this.report(`PostgresBroker: cannot start yet (${messageOf(error)}); retrying`, error);
        debug('start failed: %s', messageOf(error));
        await pause(delay);
        delay = Math.min(delay * 2, RECONNECT_MAX);
      }
    }

    const pruneEvery = Math.max(1000, Math.min(this.maxAge, 60_000));
    this.pruneTimer = setInterval(() => void this.prune(), pruneEvery);
    this.pruneTimer.unref();
  }

  /** Creates the tables if missing, reads the epoch and the newest id, and starts listening. */
  private async prepare(): Promise<void> {
    const { epoch, lastId } = await this.transaction(async (client) => {
      await client.query(this.sql.lock);
      for (const statement of this.sql.schema) await client.query(statement);
      const ensured = await client.query(this.sql.ensureEpoch, [newEpoch()]);
      if (ensured.rows[0].isNewEpoch) await client.query(this.sql.forgetFloors);
      const last = await client.query(this.sql.lastId);
      return { epoch: ensured.rows[0].epoch as string, lastId: Number(last.rows[0].id) };
    });
    this.epoch = epoch;
    this.lastId = lastId;
    debug('started at %s:%d', epoch, lastId);
    await this.listen();
  }

  async publish(stream: string, data: string): Promise<BrokerMessage> {
    if (stream === '') throw new TypeError('PostgresBroker: a stream name must not be empty');
    // PostgreSQL text cannot hold NUL, which is no valid HTML either: send U+FFFD, as an HTML
    // parser would read it, rather than fail the broadcast as if the database were down. (A
    // stream name with NUL only comes from a hostile key; its pages simply get nothing.)
    data = data.replace(NUL, '\uFFFD');
    stream = stream.replace(NUL, '\uFFFD');
    const row = await this.transaction(async (client) => {
      // Held until COMMIT: the next insert takes its id only after this row is committed, so
      // rows become visible in id order and no reader skips one still in flight.
      await client.query(this.sql.lock);
      const inserted = await client.query(this.sql.publish, [
        stream,
        data,
        this.sql.channel,
        newEpoch(),
      ]);
      const { id, epoch, isNewEpoch } = inserted.rows[0];
      if (isNewEpoch) await client.query(this.sql.forgetFloors);
      return { id: String(id), epoch: String(epoch) };
    });
    return { stream, id: `${row.epoch}:${row.id}`, data };
  }

  position(): string {
    return `${this.epoch}:${this.lastId}`;
  }

  async replay(stream: string, afterId: string): Promise<BrokerMessage[] | null> {
    const parsed = ID.exec(afterId);
    if (parsed === null || parsed[1] !== this.epoch) return null;
    const epoch = parsed[1];
    const after = Number(parsed[2]);

    // Only up to what this process has delivered: later rows reach the subscriber live, and
    // sending them here as well would send them twice.
    const { rows } = await this.pool.query(this.sql.replay, [stream, after, this.lastId]);
    const messages: BrokerMessage[] = [];
    let isEpochCurrent = false;
    for (const row of rows) {
      if (row.kind === 'epoch') isEpochCurrent = row.data === epoch;
      else if (row.kind === 'floor' && after < Number(row.id)) return null;
      else if (row.kind === 'message')
        messages.push({ stream, id: `${epoch}:${row.id}`, data: row.data });
    }
    if (!isEpochCurrent) return null;
    return messages.sort((a, b) => idOf(a) - idOf(b));
  }

  compareIds(a: string, b: string): number | null {
    const [first, second] = [ID.exec(a), ID.exec(b)];
    if (first === null || second === null || first[1] !== second[1]) return null;
    return compareDecimal(first[2], second[2]);
  }

  async close(): Promise<void> {
    this.isRunning = false;
    this.deliver = null;
    if (this.pruneTimer !== null) clearInterval(this.pruneTimer);
    this.pruneTimer = null;
    const listener = this.listener;
    this.listener = null;
    await Promise.allSettled([this.fetching, this.reconnecting]);
    await listener?.end().catch(() => {});
    await this.pool.end().catch(() => {});
  }

  /** Opens the LISTEN connection and reads whatever was committed since `lastId`. */
  private async listen(): Promise<void> {
    const client = new this.pg.Client(this.config);
    client.on('error', (error) => this.lost(error, client));
    client.on('end', () => this.lost(new Error('connection ended'), client));
    client.on('notification', () => this.fetch());
    await client.connect();
    await client.query(`LISTEN ${this.sql.channel}`);
    if (!this.isRunning) {
      await client.end();
      return;
    }
    this.listener = client;
    if (this.isDown) debug('listening again');
    this.isDown = false;
    this.fetch();
  }

  /** Reads new rows, one read at a time; a notification during a read asks for one more. */
  private fetch(): void {
    if (this.fetching !== null) {
      this.fetchAgain = true;
      return;
    }
    this.fetching = this.readNewRows()
      .catch((error: unknown) => debug('read failed: %s', messageOf(error)))
      .finally(() => {
        this.fetching = null;
        if (this.fetchAgain && this.isRunning) {
          this.fetchAgain = false;
          this.fetch();
        }
      });
  }

  private async readNewRows(): Promise<void> {
    for (;;) {
      const listener = this.listener;
      if (listener === null || !this.isRunning) return;
      const { rows } = await listener.query(this.sql.fetch, [this.lastId, FETCH_BATCH]);
      const prunedRow = rows[0]?.id === '-1' ? rows.shift() : undefined;
      const epochRow = rows[0]?.id === '0' ? rows.shift() : undefined;
      const epoch = epochRow?.data ?? 'none';
      if (epoch !== this.epoch) {
        debug('new epoch %s (was %s): the table was truncated', epoch, this.epoch);
        this.epoch = epoch;
        // A truncated table may number its rows from 1 again: read it from the start.
        this.missedUpTo = 0;
        if (this.lastId !== 0) {
          this.lastId = 0;
          continue;
        }
      }
      const prunedUpTo = Number(prunedRow?.data ?? 0);
      if (prunedUpTo > this.lastId && prunedUpTo > this.missedUpTo) {
        // Pruned before this process read them (it stalled, or its connection was down for
        // longer than the history lasts): their streams' clients reconnect and get a refresh.
        this.missedUpTo = prunedUpTo;
        this.report(
          `PostgresBroker: messages up to id ${prunedUpTo} were pruned before this process ` +
            `read them (it had read up to ${this.lastId})`,
        );
        this.onMissed();
      }
      for (const row of rows) {
        this.lastId = Number(row.id);
        this.deliver?.({ stream: row.stream, id: `${epoch}:${row.id}`, data: row.data });
      }
      if (rows.length < FETCH_BATCH) return;
    }
  }

  /** Handles a lost connection: reported once per outage, the listener is rebuilt with backoff. */
  private lost(error: Error, client?: Client): void {
    debug('connection lost: %s', error.message);
    if (!this.isRunning) return;
    if (!this.isDown) {
      this.isDown = true;
      this.report(
        `PostgresBroker: lost the connection to PostgreSQL (${error.message}); retrying`,
        error,
      );
    }
    if (client !== undefined && client === this.listener) {
      this.listener = null;
      client.end().catch(() => {});
      this.reconnecting ??= this.reconnect().finally(() => (this.reconnecting = null));
    }
  }

  private async reconnect(): Promise<void> {
    let delay = RECONNECT_FIRST;
    while (this.isRunning && this.listener === null) {
      await pause(delay);
      if (!this.isRunning) return;
      try {
        await this.listen();
      } catch (error) {
        debug('reconnect failed: %s', messageOf(error));
        delay = Math.min(delay * 2, RECONNECT_MAX);
      }
    }
  }

  /** Drops rows past the history bounds; one process at a time does it, the others skip. */
  private async prune(): Promise<void> {
    try {
      await this.transaction(async (client) => {
        const { rows } = await client.query(this.sql.tryPruneLock);
        if (rows[0].locked !== true) return;
        await client.query(this.sql.prune, [this.size, this.maxAge]);
        await client.query(this.sql.dropCoveredFloors);
      });
    } catch (error) {
      debug('prune failed: %s', messageOf(error));
    }
  }

  private async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      broken = error as Error;
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      // A connection that failed mid-transaction is discarded, not handed to the next publish.
      client.release(broken);
    }
  }

  private report(message: string, cause?: unknown): void {
    reportBrokerError(this.onError, debug, message, cause);
  }
}

function idOf(message: BrokerMessage): number {
  return Number(message.id.slice(message.id.indexOf(':') + 1));
}

function newEpoch(): string {
  return crypto.randomBytes(8).toString('hex');
}
