import type { Transaction } from 'sequelize';
import createDebug from 'debug';

const debug = createDebug('turbo-express:commit');

/** A unit of after-write work, such as running one `onSave`. */
export type Job = () => Promise<void>;

const PENDING = Symbol('turbo-express:pending-jobs');
const OUTCOME = Symbol('turbo-express:outcome');

/** How a watched transaction really ended, as its wrapped commit and rollback saw it. */
type Outcome = 'committed' | 'commit-failed' | 'rolled-back';

interface TrackedTransaction extends Transaction {
  parent?: TrackedTransaction | null;
  finished?: string;
  /** On an outermost transaction: the jobs of its writes and of its savepoints', in order. */
  [PENDING]?: PendingJob[];
  [OUTCOME]?: Outcome;
}

/** A job waiting for its outermost transaction, with the savepoints its write was made in. */
interface PendingJob {
  job: Job;
  savepoints: TrackedTransaction[];
}

/** Receives a job that ran longer than the queue waits for it. */
export type SlowJobFn = (waitedMs: number) => void;

/**
 * Runs jobs one after another, in the order they were queued: the order writes committed in. A
 * job that throws has already been reported by its caller; the chain goes on regardless. A job
 * still running after `timeout` ms stops holding the others back (it goes on by itself, and
 * `onSlow` is told): one `onSave` awaiting something that never answers must not silence every
 * later broadcast of the process.
 */
class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  timeout: number | null = 5_000;
  onSlow: SlowJobFn = () => {};

  enqueue(job: Job): Promise<void> {
    const next = this.tail.then(() => this.runBounded(job));
    this.tail = next;
    return next;
  }

  private runBounded(job: Job): Promise<void> {
    const running = Promise.resolve()
      .then(job)
      .catch((error: unknown) => {
        debug('job failed: %s', (error as Error)?.message);
      });
    const timeout = this.timeout;
    if (timeout === null) return running;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        debug('job still running after %d ms: going on without it', timeout);
        this.onSlow(timeout);
        resolve();
      }, timeout);
      timer.unref();
      running.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
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
 * outermost transaction really commits. A write made in a savepoint waits for the outermost
 * transaction too, whether the savepoint was released or left open (as `findOrCreate` leaves the
 * one it opens): its rows commit with the outermost transaction either way. It is dropped when
 * that savepoint, or one it is nested in, is rolled back; a rollback or a failed COMMIT of the
 * outermost transaction drops every job.
 *
 * Sequelize's own `afterCommit` is not used: Sequelize 6 runs those callbacks even when the COMMIT
 * statement fails (and marks the transaction `finished: 'commit'` all the same), which would
 * broadcast a write the database refused.
 */
export function runAfterCommit(transaction: Transaction | null | undefined, job: Job): void {
  let root = transaction as TrackedTransaction | null | undefined;
  if (!root) {
    queue.enqueue(job);
    return;
  }
  const savepoints: TrackedTransaction[] = [];
  while (root.parent) {
    savepoints.push(root);
    root = root.parent;
  }
  if (savepoints.some(isRolledBack)) {
    debug('dropped a job for a savepoint that was rolled back');
  } else if (!root.finished) {
    for (const savepoint of savepoints) watch(savepoint);
    watch(root);
    root[PENDING]!.push({ job, savepoints });
  } else if (root.finished === 'commit' && root[OUTCOME] !== 'commit-failed') {
    // Reached by an explicit broadcast after its transaction ended.
    queue.enqueue(job);
  } else {
    debug('dropped a job for a transaction that ended with %s', root[OUTCOME] ?? root.finished);
  }
}

function isRolledBack(transaction: TrackedTransaction): boolean {
  return transaction[OUTCOME] === 'rolled-back' || transaction.finished === 'rollback';
}

/** Transactions whose commit and rollback are wrapped already. */
const watched = new WeakSet<TrackedTransaction>();

/**
 * Wraps commit and rollback of one transaction object, once, to learn how it really ended.
 * Managed transactions (`sequelize.transaction(async (t) => ...)`) call these same methods on the
 * object. A savepoint's rollback marks the jobs of its writes as dropped; only the outermost
 * transaction's commit runs jobs, since releasing a savepoint makes nothing durable.
 */
function watch(transaction: TrackedTransaction): void {
  if (watched.has(transaction)) return;
  watched.add(transaction);
  const rollback = transaction.rollback;
  transaction.rollback = async function rollbackAndForget(this: TrackedTransaction) {
    if (!transaction.finished) {
      transaction[OUTCOME] = 'rolled-back';
      if (transaction.parent) debug('savepoint rolled back: its jobs will be dropped');
      else debug('rollback, dropping %d job(s)', takeJobs(transaction).length);
    }
    return rollback.call(this);
  };
  if (transaction.parent) return;

  transaction[PENDING] = [];
  const commit = transaction.commit;
  transaction.commit = async function commitThenBroadcast(this: TrackedTransaction) {
    if (transaction.finished) return commit.call(this); // Sequelize refuses a second end.
    try {
      await commit.call(this);
    } catch (error) {
      transaction[OUTCOME] = 'commit-failed';
      debug('commit failed, dropping %d job(s)', takeJobs(transaction).length);
      throw error;
    }
    transaction[OUTCOME] = 'committed';
    const jobs = takeJobs(transaction).filter((pending) => !pending.savepoints.some(isRolledBack));
    debug('committed, running %d job(s)', jobs.length);
    for (const { job } of jobs) queue.enqueue(job);
  };
}

function takeJobs(transaction: TrackedTransaction): PendingJob[] {
  const jobs = transaction[PENDING] ?? [];
  transaction[PENDING] = [];
  return jobs;
}
