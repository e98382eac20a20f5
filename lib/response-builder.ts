import { ServerResponse } from 'node:http';
import type { Response } from 'express';
import type { Renderer } from './render';
import { TurboStreamResponse } from './turbo-stream-response';

/** Builds the `res.turboStream` of one response. */
export type TurboStreamFactory = (res: Response) => TurboStreamResponse;

/**
 * The responses that went through a turboStreams(), each with the factory of its builder. Kept
 * on `globalThis` under a registered symbol, so that two copies of turbo-express loaded in one
 * process (two versions in node_modules) share it and the one getter below.
 */
const REGISTRY: unique symbol = Symbol.for('turbo-express.turbo-stream-factories');
const shared = globalThis as { [REGISTRY]?: WeakMap<object, TurboStreamFactory> };
const offered = (shared[REGISTRY] ??= new WeakMap());

/** The factory of `res.turboStream` for the responses of one turboStreams(), made once. */
export function turboStreamFactory(renderer: Renderer): TurboStreamFactory {
  return function buildTurboStream(res) {
    return new TurboStreamResponse(res, renderer);
  };
}

/**
 * Gives `res` a `res.turboStream`, built by `factory` when it is first read.
 *
 * Most requests never read it, and a property added to every Express response costs more than
 * the rest of the middleware's work for that request (Express switches each response's prototype,
 * and V8 then looks the new property's place up the slow way). So the builder is reached through
 * one getter on Node's `ServerResponse.prototype`, which the responses of every Express app and
 * sub-app inherit from, and becomes the response's own property once read. A response that no
 * turboStreams() saw reads `undefined`, as before the middleware.
 */
export function offerTurboStream(res: Response, factory: TurboStreamFactory): void {
  offered.set(res, factory);
}

function ownValue(value: unknown): PropertyDescriptor {
  return { value, writable: true, enumerable: true, configurable: true };
}

if (!Object.prototype.hasOwnProperty.call(ServerResponse.prototype, 'turboStream')) {
  Object.defineProperty(ServerResponse.prototype, 'turboStream', {
    configurable: true,
    enumerable: false,
    get(this: Response): TurboStreamResponse | undefined {
      const factory = offered.get(this);
      if (factory === undefined) return undefined;
      const builder = factory(this);
      Object.defineProperty(this, 'turboStream', ownValue(builder));
      return builder;
    },
    set(this: Response, value: unknown) {
      Object.defineProperty(this, 'turboStream', ownValue(value));
    },
  });
}
