import type { ContentOptions } from './broadcaster';
import { currentRequestId } from './context';
import { describeValue, ErrorCodes, TurboExpressError } from './errors';
import type { Locals } from './render';
import type { TargetOptions, TurboStreamAction, TurboStreamAttributes } from './turbo-stream';

/** Where an action applies, and how: `target` or `targets`, and `method: 'morph'`. */
export interface ActionOptions extends TargetOptions {
  /** `'morph'` makes replace and update morph the element instead of swapping it. */
  method?: 'morph';
}

/** An action given as one object: where it applies and its content. */
export type ActionWithContent = ActionOptions & ContentOptions;

/** Options of the refresh action. */
export interface RefreshOptions {
  /** `'morph'` asks Turbo to morph the page rather than replace its body. */
  method?: 'morph' | 'replace';
  /** `'preserve'` keeps the scroll position. */
  scroll?: 'preserve' | 'reset';
  /**
   * The request this refresh answers; that page will not refresh itself. Defaults to the
   * `X-Turbo-Request-Id` of the request being handled, if any.
   */
  requestId?: string;
}

/** The two ways to call a content action: (partial, locals, options) or one object. */
export type ContentArgs = [string, Locals, ActionOptions] | [ActionWithContent];

/** The option keys each kind of call takes; anything else is a mistake worth an error. */
const TARGET_KEYS = ['target', 'targets'] as const;
const ACTION_KEYS = [...TARGET_KEYS, 'method'] as const;
const CONTENT_KEYS = ['template', 'locals', 'html'] as const;
/** The keys of `refresh()`. */
export const REFRESH_KEYS = ['method', 'scroll', 'requestId'] as const;

/**
 * Refuses an option key the call does not take, such as `tagret` or Rails' `partial`: dropped in
 * silence, it would send something else than the caller meant.
 */
export function refuseUnknownKeys(
  action: string,
  options: object,
  ...allowed: (readonly string[])[]
): void {
  if (!isPlainObject(options)) {
    throw new TurboExpressError(
      ErrorCodes.INVALID_OPTION,
      `${action}() takes an options object, not ${describeValue(options)}`,
      { action },
    );
  }
  for (const key of Object.keys(options)) {
    if (!allowed.some((keys) => keys.includes(key))) {
      const known = allowed.flat().join(', ');
      throw new TurboExpressError(
        ErrorCodes.INVALID_OPTION,
        `${action}() takes no option ${JSON.stringify(key)}; it takes ${known}`,
        { action },
      );
    }
  }
}

/** An object literal (or one without a prototype): no Map, Date, array or inherited options. */
function isPlainObject(value: unknown): value is object {
  if (value === null || typeof value !== 'object') return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Reads the arguments of a content action into its content and its attributes. */
export function splitArgs(
  action: TurboStreamAction,
  args: ContentArgs,
): { content: ContentOptions; attributes: TurboStreamAttributes } {
  if (typeof args[0] === 'string') {
    const [template, locals, options] = args as [string, Locals, ActionOptions | undefined];
    const given = options ?? {};
    refuseUnknownKeys(action, given, ACTION_KEYS);
    return { content: { template, locals }, attributes: toAttributes(given) };
  }
  const given = args[0];
  if (given === null || typeof given !== 'object') {
    throw new TurboExpressError(
      ErrorCodes.INVALID_OPTION,
      `${action}() takes (partial, locals, { target }) or ` +
        '({ target, template, locals } or { target, html })',
      { action },
    );
  }
  refuseUnknownKeys(action, given, ACTION_KEYS, CONTENT_KEYS);
  const { template, locals, html, ...options } = given;
  return { content: dropUndefined({ template, locals, html }), attributes: toAttributes(options) };
}

/** The attributes of a remove action: its target, from options that hold nothing else. */
export function removeAttributes(options: TargetOptions | null | undefined): TargetOptions {
  const given = options ?? {};
  refuseUnknownKeys('remove', given, TARGET_KEYS);
  return pickTarget(given);
}

/**
 * The attributes of a refresh action, from options that hold nothing else; the request id
 * defaults to the `X-Turbo-Request-Id` of the request being handled.
 */
export function refreshAttributes(options: RefreshOptions | null | undefined): RefreshOptions {
  const given = options ?? {};
  refuseUnknownKeys('refresh', given, REFRESH_KEYS);
  // Only an absent id defaults: a null one is refused as any other non-string.
  const requestId = given.requestId === undefined ? currentRequestId() : given.requestId;
  return dropUndefined({ method: given.method, scroll: given.scroll, requestId });
}

/** Keeps only `target` and `targets`, leaving out those not given. */
export function pickTarget(options: TargetOptions): TargetOptions {
  const picked: TargetOptions = {};
  if (options.target !== undefined) picked.target = options.target;
  if (options.targets !== undefined) picked.targets = options.targets;
  return picked;
}

/**
 * A copy of `value` without the keys whose value is undefined. A copy rather than `delete`, which
 * would turn the object into a slow dictionary for every later read.
 */
export function dropUndefined<T extends object>(value: T): T {
  const kept = {} as T;
  for (const key of Object.keys(value) as (keyof T)[]) {
    // An own "__proto__" (from JSON.parse) is no option; assigned, it would set the prototype.
    if (value[key] !== undefined && key !== '__proto__') kept[key] = value[key];
  }
  return kept;
}

function toAttributes(options: ActionOptions): TurboStreamAttributes {
  const attributes: TurboStreamAttributes = pickTarget(options);
  if (options.method !== undefined) attributes.method = options.method;
  return attributes;
}
