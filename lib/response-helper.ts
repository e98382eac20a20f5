import { ServerResponse } from 'node:http';
import type { Response } from 'express';
import type { Renderer } from './render';
import { TurboStreamResponse } from './turbo-stream-response';

/** The renderer `res.turboStream` uses, per response prototype that turboStreams() has served. */
const renderers = new WeakMap<object, Renderer>();

/**
 * Gives a response `res.turboStream`. On an Express response it is a getter on the app's own
 * `app.response` prototype, defined once, not a property set on each response: every property
 * added to a response after Express set its prototype gives that response a hidden class of its
 * own and slows each later read of it in Express and Node (about 3 % of the CPU of a POST that
 * writes one row, measured). The builder is made on first use and kept on that response, so the
 * actions added through several reads of `res.turboStream` are sent together.
 *
 * A sub-app's `app.response` inherits from its parent's, so routes of apps mounted below the one
 * that uses turboStreams() have it too. A response that is no `ServerResponse` built by Express
 * (a test double) gets the property itself.
 */
export function provideTurboStream(res: Response, renderer: Renderer): void {
  const prototype = Object.getPrototypeOf(res) as object | null;
  if (prototype !== null && renderers.get(prototype) === renderer) return;
  if (prototype === null || prototype === ServerResponse.prototype || !isServerResponse(res)) {
    res.turboStream = new TurboStreamResponse(res, renderer);
    return;
  }
  renderers.set(prototype, renderer);
  if (!Object.prototype.hasOwnProperty.call(prototype, 'turboStream')) {
    Object.defineProperty(prototype, 'turboStream', TURBO_STREAM_PROPERTY);
  }
}

const TURBO_STREAM_PROPERTY: PropertyDescriptor = {
  configurable: true,
  get(this: Response): TurboStreamResponse | undefined {
    const renderer = rendererFor(this);
    if (renderer === undefined) return undefined;
    const builder = new TurboStreamResponse(this, renderer);
    keepOn(this, builder);
    return builder;
  },
  set(this: Response, value: unknown): void {
    keepOn(this, value);
  },
};

function isServerResponse(res: Response): boolean {
  return res instanceof ServerResponse;
}

function keepOn(res: Response, value: unknown): void {
  Object.defineProperty(res, 'turboStream', {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

/** The renderer of the nearest prototype of `res` that turboStreams() served. */
function rendererFor(res: object): Renderer | undefined {
  for (let p = Object.getPrototypeOf(res) as object | null; p !== null;) {
    const renderer = renderers.get(p);
    if (renderer !== undefined) return renderer;
    p = Object.getPrototypeOf(p) as object | null;
  }
  return undefined;
}
