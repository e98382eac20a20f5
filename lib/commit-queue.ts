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
  [PENDING]?: Job[];
  [OUTCOME]?: Outcome;
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
 * outermost transaction really commits. Savepoints pass their jobs up to their parent when they
 * are released and drop them when rolled back; a rollback or a failed COMMIT drops them all.
 *
 * Sequelize's own `afterCommit` is not used: Sequelize 6 runs those callbacks even when the COMMIT
 * statement fails (and marks the transaction `finished: 'commit'` all the same), which would
 * broadcast a write the database refused.
 */
export function runAfterCommit(transaction: Transaction | null | undefined, job: Job): void {
  const tracked = transaction as TrackedTransaction | null | undefined;
  if (!tracked) {
    queue.enqueue(job);
  } else if (!tracked.finished) {
    pendingJobs(tracked).push(job);
  } else if (tracked.finished === 'commit' && tracked[OUTCOME] !== 'commit-failed') {
    // Reached by an explicit broadcast after its transaction ended. A released savepoint is not
    // durable yet: its parent decides.
    if (tracked.parent) runAfterCommit(tracked.parent, job);
    else queue.enqueue(job);
  } else {
    debug(
      'dropped a job for a transaction that ended with %s',
      tracked[OUTCOME] ?? tracked.finished,
    );
  }
}

function pendingJobs(transaction: TrackedTransaction): Job[] {
  let jobs = transaction[PENDING];
  if (jobs === undefined) {
    jobs = [];
    transaction[PENDING] = jobs;
    watch(transaction);
  }
  return jobs;
}

/**
 * Wraps commit and rollback of one transaction object, to learn how it really ended. Managed
 * transactions (`sequelize.transaction(async (t) => ...)`) call these same methods on the object.
 */
function watch(transaction: TrackedTransaction): void {
  const commit = transaction.commit;
  const rollback = transaction.rollback;

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
    const jobs = takeJobs(transaction);
    if (transaction.parent) {
      // Releasing a savepoint makes nothing durable: the jobs wait for the parent.
      for (const job of jobs) runAfterCommit(transaction.parent, job);
    } else {
      debug('committed, running %d job(s)', jobs.length);
      for (const job of jobs) queue.enqueue(job);
    }
  };

  transaction.rollback = async function rollbackAndForget(this: TrackedTransaction) {
    if (transaction.finished) return rollback.call(this);
    transaction[OUTCOME] = 'rolled-back';
    debug('rollback, dropping %d job(s)', takeJobs(transaction).length);
    return rollback.call(this);
  };
}

function takeJobs(transaction: TrackedTransaction): Job[] {
  const jobs = transaction[PENDING] ?? [];
  transaction[PENDING] = [];
  return jobs;
}
