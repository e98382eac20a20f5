import { ServerResponse } from 'node:http';
import type { Response } from 'express';
import { defineOwnValue } from './own-value';
import type { Renderer } from './render';
import { TurboStreamResponse } from './turbo-stream-response';

/** Builds the `res.turboStream` of one response. */
export type TurboStreamFactory = (res: Response) => TurboStreamResponse;

/**
 * Where a response that went through a turboStreams() keeps the factory of its builder until
 * `res.turboStream` is first read: its `res.locals`, under a registered symbol, so that every copy
 * of turbo-express in the process (two versions in node_modules, or one per test file under a
 * runner that gives each file its own globals but one `node:http`) reads what the others wrote.
 */
const FACTORY: unique symbol = Symbol.for('turbo-express.turbo-stream-factory');

interface Locals {
  [FACTORY]?: TurboStreamFactory;
}

/** The factory of `res.turboStream` for the responses of one turboStreams(), made once. */
export function turboStreamFactory(renderer: Renderer): TurboStreamFactory {
  const factory = function buildTurboStream(res: Response) {
    return new TurboStreamResponse(res, renderer);
  };
  // Marked, so that the getter knows it from whatever else res.locals answers for its key.
  Object.defineProperty(factory, FACTORY, { value: true });
  return factory;
}

/**
 * Gives `res` a `res.turboStream`, built by `factory` when it is first read.
 *
 * Most requests never read it, and a property added to every Express response costs more than
 * the rest of the middleware's work for that request (Express switches each response's prototype,
 * and V8 then gives the response a hidden class of its own for every property added); a WeakMap
 * of responses cost about half as much. So a Node response only gets the factory in its
 * `res.locals` (a dictionary already, where one more key costs little), and reaches its builder
 * through one getter on `ServerResponse.prototype`, which the responses of every Express app and
 * sub-app inherit from; the builder becomes the response's own property once read. A response
 * that already has its own `turboStream` (read, or set by the app, or by an earlier
 * turboStreams()) gets the new builder at once, as does a response that is no Node response (a
 * test's stand-in): the last turboStreams() a request went through is the one whose views its
 * builder renders.
 */
export function offerTurboStream(res: Response, factory: TurboStreamFactory): void {
  if (
    Object.prototype.hasOwnProperty.call(res, 'turboStream') ||
    !(res instanceof ServerResponse)
  ) {
    res.turboStream = factory(res);
    delete (res.locals as Locals)[FACTORY];
    return;
  }
  (res.locals as Locals)[FACTORY] = factory;
}

if (!Object.prototype.hasOwnProperty.call(ServerResponse.prototype, 'turboStream')) {
  Object.defineProperty(ServerResponse.prototype, 'turboStream', {
    configurable: true,
    enumerable: false,
    get(this: Response): TurboStreamResponse | undefined {
      const factory = (this.locals as Locals | undefined)?.[FACTORY];
      // Whatever else res.locals answers (a Proxy with defaults, say) is no builder.
      if (typeof factory !== 'function' || !Object.prototype.hasOwnProperty.call(factory, FACTORY))
        return undefined;
      const builder = factory(this);
      defineOwnValue(this, 'turboStream', builder);
      return builder;
    },
    set(this: Response, value: unknown) {
      defineOwnValue(this, 'turboStream', value);
    },
  });
}
