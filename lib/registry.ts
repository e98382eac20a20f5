import type { Model, ModelStatic } from 'sequelize';
import createDebug from 'debug';
import { describeValue, ErrorCodes, TurboExpressError } from './errors';
import { installModelHooks } from './model-hooks';
import { isModelStreamClass, ModelStream, type ModelStreamClass } from './model-stream';
import { Stream, splitStreamName, type StreamClass } from './stream';

const debug = createDebug('turbo-express:registry');

/** Stream classes by the first part of their names. */
const byName = new Map<string, StreamClass>();
/** ModelStream classes by the model they serve. */
const byModel = new Map<ModelStatic<Model>, ModelStreamClass>();

/**
 * Registers a stream class, so that pages can subscribe to its streams and, for a ModelStream,
 * so that its model's rows get a `.stream` and their writes reach `onSave` and `onDelete`.
 *
 * Registering the same class again does nothing. A class with the same name as a registered one
 * replaces it (a module loaded twice); a different ModelStream for a model that has one, or a
 * different class claiming a taken stream name, is an error.
 */
export function registerStream(streamClass: StreamClass): void {
  if (typeof streamClass !== 'function' || !(streamClass.prototype instanceof Stream)) {
    throw new TurboExpressError(
      ErrorCodes.INVALID_STREAM_CLASS,
      'registerStream() takes a class extending Stream or ModelStream, ' +
        `not ${describeValue(streamClass)}`,
    );
  }
  // Every check comes before any change, so a refused class leaves nothing half-registered.
  const isModelStream = isModelStreamClass(streamClass);
  if (isModelStream) checkModelStream(streamClass);
  const baseName = validBaseName(streamClass);
  const existing = byName.get(baseName);
  if (existing !== undefined && existing !== streamClass && existing.name !== streamClass.name) {
    throw new TurboExpressError(
      ErrorCodes.DUPLICATE_STREAM_NAME,
      `${streamClass.name} and ${existing.name} both name their streams "${baseName}": ` +
        'set a different static streamName on one',
    );
  }

  if (isModelStream) registerModelStream(streamClass);
  byName.set(baseName, streamClass);
  debug('registered %s as %s', streamClass.name, baseName);
}

function checkModelStream(streamClass: ModelStreamClass): void {
  const model = streamClass.model;
  if (typeof model !== 'function' || typeof (model as ModelStatic<Model>).addHook !== 'function') {
    throw new TurboExpressError(
      ErrorCodes.INVALID_STREAM_CLASS,
      `${streamClass.name} extends ModelStream but has no Sequelize model: ` +
        'add "static model = YourModel"',
    );
  }
  checkPrimaryKey(streamClass.name, model as ModelStatic<Model>);
  const existing = byModel.get(model);
  if (existing !== undefined && existing !== streamClass && existing.name !== streamClass.name) {
    throw new TurboExpressError(
      ErrorCodes.DUPLICATE_MODEL_STREAM,
      `${model.name} already has the ModelStream ${existing.name}; ` +
        `${streamClass.name} cannot be a second one`,
    );
  }
}

/**
 * A row's stream is named by its model and its primary key, so the model must be initialised
 * (`Model.init()` would drop the hooks installed before it) and have a key of one column: rows of
 * a model without one would all share one name, and rows of a composite key sharing its first
 * column would hear each other's broadcasts.
 */
function checkPrimaryKey(className: string, model: ModelStatic<Model>): void {
  const refuse = (why: string) => {
    throw new TurboExpressError(ErrorCodes.INVALID_STREAM_CLASS, `${className}: ${why}`);
  };
  // Own, not inherited: a subclass of an initialised model is a model of its own only once
  // its own init() has run, and that init() would drop the hooks.
  if (!isInitialised(model)) {
    refuse(
      model.sequelize === undefined
        ? `${model.name} is not initialised: call ${model.name}.init() before registerStream()`
        : isScope(model)
          ? `this ${model.name} is a scope of the model: give ${className} the model itself ` +
            "(its scopes' rows reach it too)"
          : `${model.name} is a subclass of an initialised model, not a model of its own: ` +
            `give ${className} the model itself, or call ${model.name}.init() first`,
    );
  }
  const keys = model.primaryKeyAttributes ?? [];
  if (keys.length === 0) {
    refuse(
      `${model.name} has no primary key, and a ModelStream names each row's stream by it: ` +
        'give the model one, or broadcast on a Stream instead',
    );
  }
  if (keys.length > 1) {
    refuse(
      `${model.name} has a composite primary key (${keys.join(', ')}), and a ModelStream names ` +
        "each row's stream by a single key column: broadcast on a Stream named by all of them",
    );
  }
}

function registerModelStream(streamClass: ModelStreamClass): void {
  const model = streamClass.model;
  byModel.set(model, streamClass);
  installModelHooks(model);
  defineStreamProperty(model);
}

/** Gives every instance of `model` a `.stream` getter that builds its ModelStream. */
function defineStreamProperty(model: ModelStatic<Model>): void {
  if (Object.prototype.hasOwnProperty.call(model.prototype, 'stream')) return;
  Object.defineProperty(model.prototype, 'stream', {
    configurable: true,
    enumerable: false,
    get(this: Model) {
      return streamFor(this);
    },
  });
}

function validBaseName(streamClass: StreamClass): string {
  const baseName = streamClass.baseName;
  if (typeof baseName !== 'string' || baseName === '' || baseName.includes(':')) {
    throw new TurboExpressError(
      ErrorCodes.INVALID_STREAM_CLASS,
      `${streamClass.name}'s stream name ${JSON.stringify(baseName)} ` +
        'must be a non-empty string without ":"',
    );
  }
  return baseName;
}

/** The ModelStream of a row, or `null` when its model has none registered. */
export function streamFor<M extends Model>(instance: M): ModelStream<M> | null {
  const streamClass = streamClassFor(instance.constructor as ModelStatic<Model>);
  return streamClass === undefined
    ? null
    : (new streamClass(instance) as unknown as ModelStream<M>);
}

/**
 * The ModelStream class registered for `model`, if any. `Model.scope()`, `unscoped()` and a
 * subclass never initialised itself give classes whose rows are the model's rows, in its table:
 * they are looked up through the class they extend. `Model.schema()` gives one whose rows live in
 * another schema's table, where the same key names another row, so it has none: its row would
 * take the stream of the default schema's row with that key.
 */
export function streamClassFor(model: ModelStatic<Model>): ModelStreamClass | undefined {
  return byModel.get(tableClassOf(model) as ModelStatic<Model>);
}

/** Whether rows of `model` were read or written through `Model.schema()`, and so have no stream. */
export function isThroughSchema(model: ModelStatic<Model>): boolean {
  const table = tableClassOf(model);
  return typeof table === 'function' && isSchemaClone(table);
}

/**
 * The class that names the table of `model`'s rows: the first, from `model` up, that was
 * initialised itself or that `Model.schema()` made.
 */
function tableClassOf(model: unknown): unknown {
  let current = model;
  while (typeof current === 'function' && !isInitialised(current) && !isSchemaClone(current)) {
    current = Object.getPrototypeOf(current);
  }
  return current;
}

/**
 * Whether a class is one `Model.schema()` made: its own `_schema` without its own `init()` (which
 * sets `_schema` on every model).
 */
function isSchemaClone(model: object): boolean {
  return !isInitialised(model) && Object.prototype.hasOwnProperty.call(model, '_schema');
}

/** Whether `init()` ran on this very class, rather than on one it extends. */
function isInitialised(model: object): boolean {
  return Object.prototype.hasOwnProperty.call(model, 'sequelize');
}

/** Whether a class is one `Model.scope()` or `unscoped()` made, which set its own `scoped`. */
function isScope(model: unknown): boolean {
  return (
    typeof model === 'function' &&
    Object.prototype.hasOwnProperty.call(model, 'scoped') &&
    (model as { scoped?: unknown }).scoped === true
  );
}

/** Builds the stream a full stream name stands for, or `null` when nothing stands behind it. */
export async function resolveStream(name: string): Promise<Stream | null> {
  const { base, key } = splitStreamName(name);
  const streamClass = byName.get(base);
  if (streamClass === undefined) return null;
  return streamClass.resolve(key);
}

/** Tells whether some registered class claims the stream name `name`, whatever its key. */
export function hasStreamClass(name: string): boolean {
  return byName.has(splitStreamName(name).base);
}

/** Tells whether a stream class is registered under its name. */
export function isRegistered(streamClass: StreamClass): boolean {
  return byName.get(streamClass.baseName) === streamClass;
}

/** Forgets every registration; for tests that define their classes anew. Hooks stay installed. */
export function clearRegistry(): void {
  byName.clear();
  byModel.clear();
}
