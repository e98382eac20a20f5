import type { Transaction } from 'sequelize';
import createDebug from 'debug';
import { messageOf } from './errors';

const debug = createDebug('turbo-express:commit');

/** A unit of after-write work, such as running one `onSave`. */
export type Job = () => Promise<void>;

const PENDING = Symbol('turbo-express:pending-jobs');
const QUEUED = Symbol('turbo-express:jobs-queued');
const OUTCOME = Symbol('turbo-express:outcome');
const SPAN = Symbol('turbo-express:savepoint-span');

/** How a watched transaction really ended, as its wrapped commit and rollback saw it. */
type Outcome = 'committing' | 'committed' | 'commit-failed' | 'rolled-back';

interface TrackedTransaction extends Transaction {
  parent?: TrackedTransaction | null;
  finished?: string;
  /** Sequelize's list of the savepoints made in this transaction, in order. */
  savepoints?: TrackedTransaction[];
  /** On an outermost transaction: the jobs of its writes and of its savepoints', in order. */
  [PENDING]?: PendingJob[];
  /** On an outermost transaction: how many jobs were queued on it so far. */
  [QUEUED]?: number;
  [OUTCOME]?: Outcome;
  /** On a savepoint: which of its outermost transaction's jobs a rollback to it undoes. */
  [SPAN]?: SavepointSpan;
}

/** A job waiting for its outermost transaction, numbered in the order writes were made. */
interface PendingJob {
  job: Job;
  seq: number;
}

/**
 * Jobs numbered above `after` were queued once the savepoint existed; a rollback to it undoes
 * those numbered up to `upTo`, every write made since the savepoint, in it or not (SQL's
 * `ROLLBACK TO SAVEPOINT`). `upTo` stays null while it is not rolled back.
 */
interface SavepointSpan {
  after: number;
  upTo: number | null;
}

/** Receives a job that ran longer than the queue waits for it. */
export type SlowJobFn = (waitedMs: number) => void;

/** The job a queue is waiting for, with how long it may hold the ones after it. */
interface RunningJob {
  /** When it started, from `performance.now()`: a step of the wall clock changes nothing. */
  readonly startedAt: number;
  readonly timeout: number;
  /** Lets the queue go on to the next job: with true when the job ran out of time. */
  readonly release: (timedOut: boolean) => void;
}

/**
 * Runs jobs one after another, in the order they were queued: the order writes committed in. A
 * job that throws has already been reported by its caller; the chain goes on regardless. A job
 * still running after `timeout` ms stops holding the others back (it goes on by itself, and
 * `onSlow` is told, in the async context of the code that queued the job): one `onSave` awaiting
 * something that never answers must not silence every later broadcast of the process.
 *
 * One watchdog timer serves every job rather than a timer per job: when it fires, it releases the
 * running job if that job is due, or waits again for as long as that job has left.
 */
class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  timeout: number | null = 5_000;
  onSlow: SlowJobFn = () => {};
  private running: RunningJob | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  /** When the watchdog fires, from `performance.now()`. */
  private watchdogDue = 0;

  enqueue(job: Job): Promise<void> {
    const next = this.tail.then(() => this.runBounded(job));
    this.tail = next;
    return next;
  }

  private runBounded(job: Job): Promise<void> {
    const done = Promise.resolve()
      .then(job)
      .catch((error: unknown) => {
        debug('job failed: %s', messageOf(error));
      });
    const timeout = this.timeout;
    if (timeout === null) return done;
    const released = new Promise<boolean>((release) => {
      const running: RunningJob = { startedAt: performance.now(), timeout, release };
      this.running = running;
      const due = running.startedAt + timeout;
      if (this.watchdog === null || this.watchdogDue > due) this.watchUntil(due);
      void done.then(() => {
        if (this.running === running) this.running = null;
        release(false);
      });
    });
    // Chained here rather than called by the watchdog, so that it runs in this job's context.
    return released.then((timedOut) => {
      if (!timedOut) return;
      debug('job still running after %d ms: going on without it', timeout);
      try {
        this.onSlow(timeout);
      } catch (error) {
        debug('onSlow threw: %s', messageOf(error));
      }
    });
  }

  /** Arms the watchdog to fire at `due`, from `performance.now()`. */
  private watchUntil(due: number): void {
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    this.watchdogDue = due;
    this.watchdog = setTimeout(() => this.check(), due - performance.now());
    this.watchdog.unref();
  }

  private check(): void {
    this.watchdog = null;
    const running = this.running;
    if (running === null) return;
    const due = running.startedAt + running.timeout;
    // Node's timers count whole milliseconds from the time of the loop's turn, so one can fire a
    // fraction of a millisecond before `due`: that counts as due, rather than a second wait.
    if (performance.now() < due - 1) {
      this.watchUntil(due);
      return;
    }
    this.running = null;
    running.release(true);
  }

  /** Resolves once every job queued so far, and every job those jobs queued, has run. */
  async settled(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.tail;
      await seen;
    } while (seen !== this.tail);
  }
}

const queue = new SerialQueue();

/**
 * Sets how long one `onSave` / `onDelete` may hold back the ones after it (`null`: for ever), and
 * who hears of one that took longer. `turboStreams()` calls it with its `hookTimeout` option.
 */
export function configureHookQueue(timeout: number | null, onSlow: SlowJobFn): void {
  queue.timeout = timeout;
  queue.onSlow = onSlow;
}

/**
 * Resolves once every `onSave` / `onDelete` queued so far has run: those of writes made without a
 * transaction and those of transactions already committed, including writes those hooks made in
 * turn. For tests and scripts that must see a write's broadcasts before going on.
 */
export function broadcastsSettled(): Promise<void> {
  return queue.settled();
}

/**
 * Runs `job` once the write it belongs to is durable: at once without a transaction, or after the
 * outermost transaction really commits. Writes made in savepoints wait for the outermost
 * transaction too, whether the savepoint was released or left open (as `findOrCreate` leaves the
 * one it opens): their rows commit with it either way. A rollback to a savepoint drops the jobs of
 * every write made since that savepoint, as the database undoes them; a rollback or a failed
 * COMMIT of the outermost transaction drops every job.
 *
 * Sequelize's own `afterCommit` is not used: Sequelize 6 runs those callbacks even when the COMMIT
 * statement fails (and marks the transaction `finished: 'commit'` all the same), which would
 * broadcast a write the database refused.
 */
export function runAfterCommit(transaction: Transaction | null | undefined, job: Job): void {
  const tracked = transaction as TrackedTransaction | null | undefined;
  if (!tracked) {
    queue.enqueue(job);
    return;
  }
  let root = tracked;
  while (root.parent) root = root.parent;
  if (tracked !== root && isRolledBack(tracked)) {
    debug('dropped a job for a savepoint that was rolled back');
  } else if (!root.finished || root[OUTCOME] === 'committing') {
    watch(root);
    const seq = root[QUEUED]!;
    for (const savepoint of savepointsOf(root)) watchSavepoint(savepoint, root, seq);
    root[QUEUED] = seq + 1;
    root[PENDING]!.push({ job, seq: seq + 1 });
  } else if (root.finished === 'commit' && (root[OUTCOME] ?? 'committed') === 'committed') {
    // Reached by an explicit broadcast after its transaction ended.
    queue.enqueue(job);
  } else {
    debug('dropped a job for a transaction that ended with %s', root[OUTCOME] ?? root.finished);
  }
}

function isRolledBack(transaction: TrackedTransaction): boolean {
  return transaction[OUTCOME] === 'rolled-back' || transaction.finished === 'rollback';
}

/** Every savepoint made in `transaction`, nested ones included. */
function savepointsOf(transaction: TrackedTransaction): TrackedTransaction[] {
  const found: TrackedTransaction[] = [];
  const visit = (parent: TrackedTransaction) => {
    for (const savepoint of parent.savepoints ?? []) {
      found.push(savepoint);
      visit(savepoint);
    }
  };
  visit(transaction);
  return found;
}

/** Transactions whose commit and rollback are wrapped already. */
const watched = new WeakSet<TrackedTransaction>();

/**
 * Wraps commit and rollback of an outermost transaction, once, to learn how it really ended.
 * Managed transactions (`sequelize.transaction(async (t) => ...)`) call these same methods on the
 * object.
 */
function watch(transaction: TrackedTransaction): void {
  if (watched.has(transaction)) return;
  watched.add(transaction);
  transaction[PENDING] = [];
  transaction[QUEUED] = 0;
  const commit = transaction.commit;
  const rollback = transaction.rollback;

  transaction.commit = async function commitThenBroadcast(this: TrackedTransaction) {
    if (transaction.finished) return commit.call(this); // Sequelize refuses a second end.
    const aborted = await abortedOnServer(transaction);
    // Sequelize marks it finished before the COMMIT is answered: jobs queued meanwhile wait too.
    transaction[OUTCOME] = 'committing';
    try {
      await commit.call(this);
    } catch (error) {
      transaction[OUTCOME] = 'commit-failed';
      debug('commit failed, dropping %d job(s)', takeJobs(transaction).length);
      throw error;
    }
    if (aborted) {
      transaction[OUTCOME] = 'rolled-back';
      debug(
        'COMMIT of a failed transaction rolled it back, dropping %d job(s)',
        takeJobs(transaction).length,
      );
      return;
    }
    transaction[OUTCOME] = 'committed';
    const undone = savepointsOf(transaction)
      .map((savepoint) => savepoint[SPAN])
      .filter((span): span is SavepointSpan => span?.upTo != null);
    const jobs = takeJobs(transaction).filter(
      ({ seq }) => !undone.some((span) => seq > span.after && seq <= span.upTo!),
    );
    debug('committed, running %d job(s)', jobs.length);
    for (const { job } of jobs) queue.enqueue(job);
  };

  transaction.rollback = async function rollbackAndForget(this: TrackedTransaction) {
    if (transaction.finished) return rollback.call(this);
    transaction[OUTCOME] = 'rolled-back';
    debug('rollback, dropping %d job(s)', takeJobs(transaction).length);
    return rollback.call(this);
  };
}

/**
 * Starts the span of a savepoint met for the first time, made after the `queued` jobs of its
 * outermost transaction so far, and wraps its rollback to close the span once the rollback
 * succeeded. One already rolled back undid none of the jobs.
 */
function watchSavepoint(
  savepoint: TrackedTransaction,
  root: TrackedTransaction,
  queued: number,
): void {
  if (savepoint[SPAN] !== undefined) return;
  const span: SavepointSpan = { after: queued, upTo: isRolledBack(savepoint) ? queued : null };
  savepoint[SPAN] = span;
  const rollback = savepoint.rollback;
  savepoint.rollback = async function rollbackSavepoint(this: TrackedTransaction) {
    const upTo = root[QUEUED]!;
    const result = await rollback.call(this);
    span.upTo = upTo;
    debug('rolled back to a savepoint: %d job(s) undone', upTo - span.after);
    return result;
  };
}

/** What turbo-express reads of a PostgreSQL transaction's connection, a node-postgres client. */
interface PgClientLike {
  getTransactionStatus?: () => unknown;
  readyForQuery?: boolean;
  query?: (text: string) => Promise<unknown>;
}

/**
 * Whether the database will answer this transaction's COMMIT with a rollback: PostgreSQL does so,
 * without an error, once a statement in the transaction failed and no rollback to a savepoint
 * recovered it. node-postgres (8.21 and newer) reports that state as `'E'`, but only once the
 * server's ready message that follows the error has arrived, which can be after the failed query
 * rejected; an empty query queued behind it resolves once it has. Other drivers report nothing,
 * and the COMMIT is taken at its word.
 */
async function abortedOnServer(transaction: TrackedTransaction): Promise<boolean> {
  try {
    const client = (transaction as { connection?: PgClientLike }).connection;
    if (typeof client?.getTransactionStatus !== 'function') return false;
    if (client.readyForQuery === false && typeof client.query === 'function') {
      await client.query('').catch(() => {});
    }
    return client.getTransactionStatus() === 'E';
  } catch (error) {
    debug('could not read the transaction status: %s', messageOf(error));
    return false; // The app's COMMIT goes ahead whatever this check meets.
  }
}

function takeJobs(transaction: TrackedTransaction): PendingJob[] {
  const jobs = transaction[PENDING] ?? [];
  transaction[PENDING] = [];
  return jobs;
}
