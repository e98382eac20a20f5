import type { Model, ModelStatic } from 'sequelize';
import { ErrorCodes, TurboExpressError } from './errors';
import { Stream, type StreamClass } from './stream';

/** The Sequelize options a hook received: `transaction`, `fields` and the like. */
export type HookOptions = Record<string, unknown>;

/** The constructor side of a ModelStream class. */
export interface ModelStreamClass<M extends Model = Model> extends StreamClass<ModelStream<M>> {
  new (instance: M): ModelStream<M>;
  /** The Sequelize model this stream class serves. */
  model: ModelStatic<M>;
}

/**
 * The stream of one row of one model. Declare one per model and register it (or export it from a
 * `streams.ts` file to have it discovered); every instance of the model then has a `.stream`
 * bound to it, named `<Model>:<primary key>`, such as `Room:1`.
 *
 * `onSave` and `onDelete` run once the write is committed, in commit order, with the request's
 * context; override them to broadcast. Whatever they throw goes to `onError`, never to the write.
 *
 * @example
 * class MessageStream extends ModelStream<Message> {
 *   static model = Message
 *   async onSave(message: Message, created: boolean) {
 *     const room = await message.getRoom()
 *     if (created) await room.stream.append('chat/message', { message }, { target: 'messages' })
 *   }
 * }
 */
export class ModelStream<M extends Model = Model> extends Stream {
  /** The Sequelize model this stream class serves. Required. */
  static model: ModelStatic<any>;

  /** The row this stream belongs to. */
  readonly instance: M;

  /** @param instance The row; usually reached as `row.stream` instead. */
  constructor(instance: M) {
    super();
    this.instance = instance;
  }

  /** The model name, or `streamName` when the class sets one. */
  static override get baseName(): string {
    return this.streamName ?? this.model?.name;
  }

  /** Loads the row a name's key stands for; `null` when it does not exist. */
  static override async resolve(key: string | undefined): Promise<Stream | null> {
    if (key === undefined) return null;
    const instance = await this.model.findByPk(key);
    return instance === null ? null : new this(instance);
  }

  /** `<Model>:<primary key>`. Throws NO_PRIMARY_KEY for a row that has none yet. */
  override get name(): string {
    const streamClass = this.constructor as ModelStreamClass<M>;
    const model = streamClass.model;
    const attribute: string | undefined = model.primaryKeyAttribute;
    // Without an attribute, get() would answer with every value of the row.
    const key = attribute === undefined ? undefined : (this.instance.get(attribute) as unknown);
    if (key === null || key === undefined || key === '') {
      throw new TurboExpressError(
        ErrorCodes.NO_PRIMARY_KEY,
        attribute === undefined
          ? `Cannot use the stream of a ${model.name}: the model has no primary key`
          : `Cannot use the stream of a ${model.name} that has no primary key ` +
              `"${attribute}": save the row first`,
        { stream: streamClass.baseName },
      );
    }
    return `${streamClass.baseName}:${String(key)}`;
  }

  /**
   * Runs after a row of the model was created or updated and committed. Does nothing unless
   * overridden.
   *
   * @param instance The row, as written.
   * @param created True for a new row, false for a change to an existing one.
   * @param options The options Sequelize gave the hook.
   */
  onSave(instance: M, created: boolean, options: HookOptions): void | Promise<void> {}

  /**
   * Runs after a row of the model was destroyed (or soft-destroyed) and committed. Does nothing
   * unless overridden.
   */
  onDelete(instance: M, options: HookOptions): void | Promise<void> {}
}

/** Tells whether `value` is a ModelStream subclass. */
export function isModelStreamClass(value: unknown): value is ModelStreamClass {
  return typeof value === 'function' && value.prototype instanceof ModelStream;
}
