import type { Model, ModelStatic, Sequelize, Transaction } from 'sequelize';
import createDebug from 'debug';
import { activeBroadcaster } from './broadcaster';
import { currentContext, runWithContext } from './context';
import { runAfterCommit } from './commit-queue';
import { ErrorCodes, messageOf } from './errors';
import type { HookOptions, ModelStream } from './model-stream';
import { streamFor } from './registry';
import { snapshotRow } from './row-snapshot';

const debug = createDebug('turbo-express:hooks');

/** The name every hook of turbo-express is registered under, so it is installed once. */
const HOOK_NAME = 'turbo-express';

type WriteKind = 'save' | 'delete';

/** The per-row hooks, and what each runs: `onSave` (for a new row or not) or `onDelete`. */
const ROW_HOOKS = [
  ['afterCreate', 'save', true],
  ['afterUpdate', 'save', false],
  ['afterDestroy', 'delete', false],
  ['afterRestore', 'save', true],
] as const;

/** The bulk writes that get per-row hooks only when `individualHooks` is set. */
const FORCED_BULK_HOOKS = ['beforeBulkUpdate', 'beforeBulkDestroy', 'beforeBulkRestore'] as const;

/** Every hook turbo-express installs, removed first on install. */
const HOOK_TYPES = [
  ...ROW_HOOKS.map(([type]) => type),
  'beforeRestore',
  'afterUpsert',
  'afterBulkCreate',
  ...FORCED_BULK_HOOKS,
] as const;

/** Options of {@link broadcastSaved} and {@link broadcastDeleted}. */
export interface ExplicitBroadcastOptions {
  /** The transaction the write belongs to; the broadcast waits for it to commit. */
  transaction?: Transaction | null;
  /** For `broadcastSaved`: whether the row is new. Defaults to false. */
  created?: boolean;
}

/**
 * Runs the model's `onSave` for a write Sequelize has no hook for (`increment`, `decrement`, raw
 * queries), with the same guarantees as the hooks: after commit, in order, errors to `onError`.
 */
export function broadcastSaved(instance: Model, options: ExplicitBroadcastOptions = {}): void {
  schedule(instance, 'save', options.created ?? false, { transaction: options.transaction });
}

/** Runs the model's `onDelete` for a delete Sequelize has no hook for; see `broadcastSaved`. */
export function broadcastDeleted(instance: Model, options: ExplicitBroadcastOptions = {}): void {
  schedule(instance, 'delete', false, { transaction: options.transaction });
}

/**
 * Installs the hooks that feed a model's ModelStream. Hooks are named and removed before being
 * added, so installing twice leaves one of each. They look the stream class up when they run, so
 * a stream module loaded again replaces the old class rather than adding a second one.
 * `Model.init()` drops every hook, so streams are registered after their models are initialised.
 *
 * Each committed row write reaches `onSave` or `onDelete` once:
 * - `Model.update`, `Model.destroy` and `Model.restore` with `where` run no per-row hooks unless
 *   asked, so a before-bulk hook sets `individualHooks: true` (Sequelize 6 reads the option after
 *   those hooks run): Sequelize then loads the matching rows first and runs one hook per row.
 * - `bulkCreate` is not forced: with `individualHooks` Sequelize 6 saves the rows one by one and
 *   silently drops `ignoreDuplicates` and `updateOnDuplicate`. Its rows are taken from
 *   `afterBulkCreate` instead, unless the caller asked for `individualHooks` (then `afterCreate`
 *   has them).
 */
export function installModelHooks(model: ModelStatic<Model>): void {
  for (const type of HOOK_TYPES) model.removeHook(type, HOOK_NAME);
  debug('hooking %s', model.name);

  for (const [type, kind, created] of ROW_HOOKS) {
    model.addHook(type, HOOK_NAME, function rowWritten(instance: Model, options: HookOptions) {
      if (type === 'afterRestore' && liveInRestore.get(instance) === options) {
        liveInRestore.delete(instance);
        return;
      }
      schedule(instance, kind, created, options);
    });
  }
  // Model.restore({ where }) runs its per-row hooks on every row the where matches, as it loaded
  // them before its UPDATE, deleted or not: a row loaded with a null deletedAt does not come back.
  // Only such rows are skipped; one whose deletedAt was not loaded still broadcasts, as does
  // instance.restore(), whose row in memory may be older than the database's.
  model.addHook(
    'beforeRestore',
    HOOK_NAME,
    function noteLiveRow(instance: Model, options: HookOptions) {
      liveInRestore.delete(instance);
      try {
        if (isBulkRestore(options) && wasLoadedLive(instance)) liveInRestore.set(instance, options);
      } catch (error) {
        // Never fails the restore; the row then broadcasts as any restored row does.
        debug('could not tell whether a restored row was deleted: %s', messageOf(error));
      }
    },
  );
  model.addHook(
    'afterUpsert',
    HOOK_NAME,
    function afterUpsert(result: unknown, options: HookOptions) {
      // Sequelize 6 reports `created` as null for SQLite and PostgreSQL alike: an update.
      const [instance, created] = result as [Model, boolean | null];
      schedule(instance, 'save', created === true, options);
    },
  );
  model.addHook(
    'afterBulkCreate',
    HOOK_NAME,
    function afterBulkCreate(instances: Model[], options: HookOptions) {
      if (options.individualHooks === true) return; // afterCreate already saw each row.
      const created = options.updateOnDuplicate === undefined;
      for (const instance of instances) {
        if (hasPrimaryKey(instance)) schedule(instance, 'save', created, options);
      }
    },
  );

  for (const type of FORCED_BULK_HOOKS) {
    model.addHook(type, HOOK_NAME, function forceRowHooks(options: { individualHooks?: boolean }) {
      options.individualHooks = true;
    });
  }
}

/**
 * Queues the row's `onSave` or `onDelete` on the write's transaction, with the context of the code
 * that wrote. Never throws: a hook that throws would fail the user's write.
 */
function schedule(instance: Model, kind: WriteKind, created: boolean, options: HookOptions): void {
  try {
    const context = currentContext();
    if (context.suppressed) return;
    const stream = streamFor(snapshotRow(instance));
    if (stream === null) return;

    const sequelize = (instance.constructor as ModelStatic<Model>).sequelize;
    const transaction =
      options.transaction === undefined ? clsTransaction(sequelize) : options.transaction;
    runAfterCommit(transaction as Transaction | null | undefined, function runStreamHook() {
      return outsideClsTransaction(sequelize, () =>
        runWithContext(context, () => runHook(stream, kind, created, options)),
      );
    });
  } catch (error) {
    const action = kind === 'save' ? 'onSave' : 'onDelete';
    activeBroadcaster().report(error, ErrorCodes.HOOK_FAILED, { action });
  }
}

async function runHook(
  stream: ModelStream,
  kind: WriteKind,
  created: boolean,
  options: HookOptions,
): Promise<void> {
  try {
    if (kind === 'save') await stream.onSave(stream.instance, created, options);
    else await stream.onDelete(stream.instance, options);
  } catch (error) {
    const context = { stream: safeName(stream), action: kind === 'save' ? 'onSave' : 'onDelete' };
    activeBroadcaster().report(error, ErrorCodes.HOOK_FAILED, context);
  }
}

function safeName(stream: ModelStream): string {
  try {
    return stream.name;
  } catch {
    return (stream.constructor as typeof ModelStream).baseName;
  }
}

/**
 * Rows a `Model.restore({ where })` loaded that were not deleted, with the options of that
 * restore: a restore that fails between the two hooks leaves an entry no later restore's options
 * match.
 */
const liveInRestore = new WeakMap<Model, object>();

/**
 * Whether per-row restore hooks come from `Model.restore({ where })`, which sets the model on its
 * options (with or without `hooks: false`) where `instance.restore()` does not.
 */
function isBulkRestore(options: object): boolean {
  return (options as { model?: unknown }).model !== undefined;
}

/**
 * Whether the row was loaded with its deletedAt, and that says it was not deleted: null, or the
 * column's default value where it has one (Sequelize then counts a null as deleted, and restore
 * writes the default back).
 */
function wasLoadedLive(instance: Model): boolean {
  const model = instance.constructor as ModelStatic<Model> & {
    _timestampAttributes?: { deletedAt?: string };
  };
  const attribute = model._timestampAttributes?.deletedAt;
  if (attribute === undefined) return false;
  const values = (instance as unknown as { dataValues: Record<string, unknown> }).dataValues;
  if (!Object.prototype.hasOwnProperty.call(values, attribute)) return false;
  const definition = model.getAttributes()[attribute] as { defaultValue?: unknown } | undefined;
  const live =
    definition !== undefined && Object.prototype.hasOwnProperty.call(definition, 'defaultValue')
      ? definition.defaultValue
      : null;
  const value = values[attribute];
  if (live instanceof Date && value instanceof Date) return live.getTime() === value.getTime();
  return value === live;
}

function hasPrimaryKey(instance: Model): boolean {
  const model = instance.constructor as ModelStatic<Model>;
  const attribute: string | undefined = model.primaryKeyAttribute;
  if (attribute === undefined) return false;
  const key = instance.get(attribute) as unknown;
  return key !== null && key !== undefined;
}

/** The namespace given to `Sequelize.useCLS()`, as far as turbo-express needs it. */
interface ClsNamespace {
  get(key: string): unknown;
  set(key: string, value: unknown): unknown;
  run(fn: () => void): unknown;
}

function clsOf(sequelize: Sequelize | undefined): ClsNamespace | undefined {
  return (sequelize?.constructor as { _cls?: ClsNamespace } | undefined)?._cls;
}

function clsTransaction(sequelize: Sequelize | undefined): Transaction | undefined {
  return (clsOf(sequelize)?.get('transaction') ?? undefined) as Transaction | undefined;
}

/**
 * Runs a stream hook with no CLS transaction: its own queries must not join the transaction that
 * just committed (Sequelize refuses a finished one) nor one still open around a write that passed
 * `transaction: null`.
 */
function outsideClsTransaction<T>(sequelize: Sequelize | undefined, fn: () => T): T {
  const cls = clsOf(sequelize);
  if (cls === undefined || !cls.get('transaction')) return fn();
  let result!: T;
  cls.run(function withoutTransaction() {
    cls.set('transaction', null);
    result = fn();
  });
  return result;
}
