import { escapeHtml } from './escape';
import { describeValue, ErrorCodes, TurboExpressError } from './errors';

/** The Turbo 8 stream actions. */
export const ACTIONS = [
  'append',
  'prepend',
  'replace',
  'update',
  'remove',
  'before',
  'after',
  'refresh',
] as const;

/** One of the Turbo 8 stream actions. */
export type TurboStreamAction = (typeof ACTIONS)[number];

/** The actions whose `method="morph"` Turbo honours. */
const MORPHABLE = new Set<TurboStreamAction>(['replace', 'update', 'refresh']);

/** The actions that carry no `<template>` content. */
const CONTENTLESS = new Set<TurboStreamAction>(['remove', 'refresh']);

/** Where an action applies: one element by id, or every element matching a CSS selector. */
export interface TargetOptions {
  /** The id of the one element the action applies to. Give this or `targets`. */
  target?: string;
  /** A CSS selector for every element the action applies to. Give this or `target`. */
  targets?: string;
}

/** What a `<turbo-stream>` element says, apart from its content. */
export interface TurboStreamAttributes extends TargetOptions {
  /** `morph` for replace, update and refresh; anything else sends Turbo's default. */
  method?: 'morph' | 'replace';
  /** For refresh: `preserve` keeps the scroll position. */
  scroll?: 'preserve' | 'reset';
  /** For refresh: the `X-Turbo-Request-Id` of the request that caused it. */
  requestId?: string;
}

/** Tells whether `value` names a Turbo stream action. */
export function isTurboStreamAction(value: unknown): value is TurboStreamAction {
  return typeof value === 'string' && (ACTIONS as readonly string[]).includes(value);
}

/** Tells whether an action takes `<template>` content. */
export function takesContent(action: TurboStreamAction): boolean {
  return !CONTENTLESS.has(action);
}

/**
 * Checks the attributes of an action at call time, so that a mistake is reported where it was
 * made rather than discovered on the socket.
 */
export function validateAttributes(
  action: TurboStreamAction,
  attributes: TurboStreamAttributes,
): void {
  if (!isTurboStreamAction(action)) {
    throw new TurboExpressError(
      ErrorCodes.INVALID_OPTION,
      `${describeValue(action)} is not a Turbo Stream action; use one of ${ACTIONS.join(', ')}`,
    );
  }
  const { target, targets, method, scroll, requestId } = attributes;
  const hasTarget = target !== undefined;
  const hasTargets = targets !== undefined;

  if (action === 'refresh') {
    if (hasTarget || hasTargets) {
      throw new TurboExpressError(
        ErrorCodes.INVALID_TARGET,
        'The refresh action applies to the whole page: give it no target or targets',
        { action },
      );
    }
  } else if (hasTarget === hasTargets) {
    throw new TurboExpressError(
      ErrorCodes.INVALID_TARGET,
      `The ${action} action needs exactly one of "target" (an element id) ` +
        'or "targets" (a CSS selector)',
      { action },
    );
  } else if (typeof (target ?? targets) !== 'string' || (target ?? targets) === '') {
    throw new TurboExpressError(
      ErrorCodes.INVALID_TARGET,
      `The ${action} action's ${hasTarget ? 'target' : 'targets'} must be a non-empty string`,
      { action },
    );
  }
  if (method !== undefined) validateMethod(action, method);
  if (
    scroll !== undefined &&
    (action !== 'refresh' || (scroll !== 'preserve' && scroll !== 'reset'))
  ) {
    throw new TurboExpressError(
      ErrorCodes.INVALID_OPTION,
      'scroll must be "preserve" or "reset", on refresh only; ' +
        `got ${describeValue(scroll)} on ${action}`,
      { action },
    );
  }
  if (requestId !== undefined && (action !== 'refresh' || typeof requestId !== 'string')) {
    throw new TurboExpressError(
      ErrorCodes.INVALID_OPTION,
      `requestId must be a string, on refresh only; got ${describeValue(requestId)} on ${action}`,
      { action },
    );
  }
}

/**
 * Builds one `<turbo-stream>` element, after checking its attributes as the actions do. Every
 * attribute is escaped; `html` goes inside the `<template>` as it is, since it is the rendered
 * partial.
 *
 * @example
 * turboStreamTag('remove', { target: 'message-7' })
 * // => '<turbo-stream action="remove" target="message-7"></turbo-stream>'
 */
export function turboStreamTag(
  action: TurboStreamAction,
  attributes: TurboStreamAttributes,
  html = '',
): string {
  validateAttributes(action, attributes);
  return checkedTurboStreamTag(action, attributes, html);
}

/** Builds the element of attributes `validateAttributes` has already passed. */
export function checkedTurboStreamTag(
  action: TurboStreamAction,
  attributes: TurboStreamAttributes,
  html: string,
): string {
  let tag = `<turbo-stream action="${action}"`;
  if (attributes.target !== undefined) tag += ` target="${escapeHtml(attributes.target)}"`;
  if (attributes.targets !== undefined) tag += ` targets="${escapeHtml(attributes.targets)}"`;
  if (attributes.method !== undefined) tag += ` method="${escapeHtml(attributes.method)}"`;
  if (attributes.scroll !== undefined) tag += ` scroll="${escapeHtml(attributes.scroll)}"`;
  if (attributes.requestId !== undefined) {
    tag += ` request-id="${escapeHtml(attributes.requestId)}"`;
  }
  const body = takesContent(action) ? `<template>${html}</template>` : '';
  return `${tag}>${body}</turbo-stream>`;
}

/** Refuses a `method` Turbo ignores on `action`, or does not know at all. */
function validateMethod(action: TurboStreamAction, method: unknown): void {
  if (!MORPHABLE.has(action)) {
    throw new TurboExpressError(
      ErrorCodes.INVALID_OPTION,
      `method: ${describeValue(method)} is only honoured by replace, update and refresh, ` +
        `not ${action}`,
      { action },
    );
  }
  if (method !== 'morph' && !(action === 'refresh' && method === 'replace')) {
    const allowed = action === 'refresh' ? '"morph" or "replace"' : '"morph"';
    throw new TurboExpressError(
      ErrorCodes.INVALID_OPTION,
      `The ${action} action's method must be ${allowed}, not ${describeValue(method)}`,
      { action },
    );
  }
}
