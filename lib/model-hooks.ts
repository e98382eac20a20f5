import type { Model, ModelStatic, Transaction } from 'sequelize';
import createDebug from 'debug';
import { activeBroadcaster } from './broadcaster';
import { currentContext, runInContext } from './context';
import { runAfterCommit } from './commit-queue';
import { ErrorCodes } from './errors';
import type { HookOptions, ModelStream } from './model-stream';
import { streamFor } from './registry';

const debug = createDebug('turbo-express:hooks');

/** The name every hook of turbo-express is registered under, so it is installed once. */
const HOOK_NAME = 'turbo-express';

const HOOK_TYPES = [
  'afterCreate',
  'afterUpdate',
  'afterDestroy',
  'afterRestore',
  'afterUpsert',
  'beforeBulkCreate',
  'beforeBulkUpdate',
  'beforeBulkDestroy',
  'beforeBulkRestore',
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
 */
export function installModelHooks(model: ModelStatic<Model>): void {
  for (const type of HOOK_TYPES) model.removeHook(type, HOOK_NAME);
  debug('hooking %s', model.name);

  model.addHook('afterCreate', HOOK_NAME, function afterCreate(instance: Model, options: HookOptions) {
    schedule(instance, 'save', true, options);
  });
  model.addHook('afterUpdate', HOOK_NAME, function afterUpdate(instance: Model, options: HookOptions) {
    schedule(instance, 'save', false, options);
  });
  model.addHook('afterDestroy', HOOK_NAME, function afterDestroy(instance: Model, options: HookOptions) {
    schedule(instance, 'delete', false, options);
  });
  model.addHook('afterRestore', HOOK_NAME, function afterRestore(instance: Model, options: HookOptions) {
    schedule(instance, 'save', true, options);
  });
  model.addHook('afterUpsert', HOOK_NAME, function afterUpsert(result: unknown, options: HookOptions) {
    const [instance, created] = result as [Model, boolean | null];
    schedule(instance, 'save', created === true, options);
  });

  // Bulk writes run no per-row hooks unless asked; asking makes Sequelize load the rows first,
  // so each changed row reaches onSave or onDelete exactly once.
  const forceRowHooks = (options: { individualHooks?: boolean }) => {
    options.individualHooks = true;
  };
  model.addHook('beforeBulkCreate', HOOK_NAME, (_rows: unknown, options: HookOptions) => forceRowHooks(options));
  model.addHook('beforeBulkUpdate', HOOK_NAME, forceRowHooks);
  model.addHook('beforeBulkDestroy', HOOK_NAME, forceRowHooks);
  model.addHook('beforeBulkRestore', HOOK_NAME, forceRowHooks);
}

function schedule(instance: Model, kind: 'save' | 'delete', created: boolean, options: HookOptions): void {
  const context = currentContext();
  if (context.suppressed) return;
  const stream = streamFor(instance);
  if (stream === null) return;

  const transaction = (options.transaction ?? clsTransaction(instance)) as Transaction | undefined;
  runAfterCommit(transaction, () => runInContext(context, () => runHook(stream, kind, created, options)));
}

async function runHook(
  stream: ModelStream,
  kind: 'save' | 'delete',
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

function clsTransaction(instance: Model): Transaction | undefined {
  const sequelize = (instance.constructor as ModelStatic<Model>).sequelize;
  const cls = (sequelize?.constructor as { _cls?: { get(key: string): unknown } } | undefined)?._cls;
  return cls?.get('transaction') as Transaction | undefined;
}
