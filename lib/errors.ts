/**
 * The codes a {@link TurboExpressError} can carry. Each names one thing that went wrong, so code
 * and tests can branch on `error.code` rather than on message text.
 */
export const ErrorCodes = {
  /** An option of `turboStreams()` or of an action has a wrong type or value. */
  INVALID_OPTION: 'TURBO_INVALID_OPTION',
  /** No `secret` was given to sign stream names while NODE_ENV is production. */
  SECRET_REQUIRED: 'TURBO_SECRET_REQUIRED',
  /** A second, different ModelStream was registered for a model that already has one. */
  DUPLICATE_MODEL_STREAM: 'TURBO_DUPLICATE_MODEL_STREAM',
  /** Two different stream classes claim the same stream name. */
  DUPLICATE_STREAM_NAME: 'TURBO_DUPLICATE_STREAM_NAME',
  /** A class given to `registerStream()` is not a Stream, or a ModelStream has no model. */
  INVALID_STREAM_CLASS: 'TURBO_INVALID_STREAM_CLASS',
  /** A broadcast was made on the stream of a row that has no primary key yet. */
  NO_PRIMARY_KEY: 'TURBO_NO_PRIMARY_KEY',
  /** An action needs exactly one of `target` or `targets`. */
  INVALID_TARGET: 'TURBO_INVALID_TARGET',
  /** A partial could not be found in the views folder. */
  TEMPLATE_NOT_FOUND: 'TURBO_TEMPLATE_NOT_FOUND',
  /** A partial was found but threw while compiling or rendering. */
  RENDER_FAILED: 'TURBO_RENDER_FAILED',
  /** The broker could not publish or replay a message. */
  BROKER_FAILED: 'TURBO_BROKER_FAILED',
  /** A stream hook (`onSave`, `onDelete`) threw. */
  HOOK_FAILED: 'TURBO_HOOK_FAILED',
  /** A stream hook ran longer than `hookTimeout`; the broadcasts after it went on without it. */
  HOOK_TIMEOUT: 'TURBO_HOOK_TIMEOUT',
  /** A stream file found by discovery could not be loaded. */
  DISCOVERY_FAILED: 'TURBO_DISCOVERY_FAILED',
} as const;

/** One of the values of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Where an error happened, when it happened while broadcasting. */
export interface ErrorContext {
  /** The stream name the broadcast was for. */
  stream?: string;
  /** The partial that was being rendered. */
  template?: string;
  /** The action being broadcast, such as `append`. */
  action?: string;
}

/**
 * The single error class of turbo-express. `code` is one of {@link ErrorCodes}; the message says
 * what is wrong and how to fix it. Errors raised while broadcasting also carry the stream and the
 * template involved.
 */
export class TurboExpressError extends Error {
  /** One of {@link ErrorCodes}. */
  readonly code: ErrorCode;
  /** The stream name involved, if any. */
  readonly stream?: string;
  /** The partial involved, if any. */
  readonly template?: string;
  /** The action involved, if any. */
  readonly action?: string;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'TurboExpressError';
    this.code = code;
    this.stream = context.stream;
    this.template = context.template;
    this.action = context.action;
  }
}

/**
 * Wraps anything thrown into a TurboExpressError with the given code, keeping the cause. A
 * TurboExpressError keeps its code and gains whatever of `context` it did not know yet.
 */
export function wrapError(
  error: unknown,
  code: ErrorCode,
  context: ErrorContext = {},
): TurboExpressError {
  if (isTurboExpressError(error)) {
    const merged: ErrorContext = {
      stream: error.stream ?? context.stream,
      template: error.template ?? context.template,
      action: error.action ?? context.action,
    };
    const isComplete =
      merged.stream === error.stream &&
      merged.template === error.template &&
      merged.action === error.action;
    return isComplete
      ? error
      : new TurboExpressError(error.code, error.message, merged, error.cause);
  }
  return new TurboExpressError(code, messageOf(error), context, error);
}

/** Whether `value` is a TurboExpressError, false for what cannot be asked (a revoked Proxy). */
function isTurboExpressError(value: unknown): value is TurboExpressError {
  try {
    return value instanceof TurboExpressError;
  } catch {
    return false;
  }
}

/**
 * The message of anything thrown, as text: its `message` when it has one, else the value itself
 * (a thrown string as it is). Never throws: what cannot be read or made text (a revoked Proxy, a
 * throwing `message` getter) is named as `describeValue()` names it.
 */
export function messageOf(thrown: unknown): string {
  try {
    const message = (thrown as { message?: unknown } | null | undefined)?.message;
    return String(message ?? thrown);
  } catch {
    return describeValue(thrown);
  }
}

/** The most of a string, or of a name, that an error message shows. */
const SHOWN_LENGTH = 80;

/**
 * A value as an error message names it: a string quoted, `null`, `undefined`, an array, a
 * function by its name, an object by its class (or as having a prototype of its own), anything
 * else by its type; strings and names cut at 80 characters. Never throws: a value whose prototype
 * or constructor cannot be read (a hostile Proxy, a throwing getter) is named by its type.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return shown(value, JSON.stringify);
  if (value === null || value === undefined) return String(value);
  try {
    return describeByShape(value);
  } catch {
    return withArticle(typeof value);
  }
}

function describeByShape(value: unknown): string {
  if (typeof value === 'function') {
    const name: unknown = value.name;
    return typeof name === 'string' && name !== ''
      ? `the function ${shown(name, String)}`
      : 'a function';
  }
  if (typeof value !== 'object') return withArticle(typeof value);
  if (Array.isArray(value)) return 'an array';
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype === Object.prototype || prototype === null) return 'an object';
  const name: unknown = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' && name !== 'Object'
    ? withArticle(shown(name, String))
    : 'an object with a prototype of its own';
}

/** `text` as `show` writes it, cut at SHOWN_LENGTH characters with its length said. */
function shown(text: string, show: (text: string) => string): string {
  if (text.length <= SHOWN_LENGTH) return show(text);
  return `${show(text.slice(0, SHOWN_LENGTH))}... (${text.length} characters)`;
}

function withArticle(noun: string): string {
  return /^[aeiou]/i.test(noun) ? `an ${noun}` : `a ${noun}`;
}
