import { ServerResponse } from 'node:http';
import type { Response } from 'express';
import type { Renderer } from './render';
import { TurboStreamResponse } from './turbo-stream-response';

/** Builds the `res.turboStream` of one response. */
export type TurboStreamFactory = (res: Response) => TurboStreamResponse;

/**
 * The responses that went through a turboStreams() and were not read yet, each with the factory
 * of its builder. Kept on `ServerResponse.prototype` under a registered symbol, as is the getter
 * that reads it, so that every copy of turbo-express in the process shares both: two versions in
 * node_modules, or one copy per test file under a runner that gives each file its own globals
 * but one `node:http`.
 */
const FACTORIES: unique symbol = Symbol.for('turbo-express.turbo-stream-factories');
const nodeResponse = ServerResponse.prototype as {
  [FACTORIES]?: WeakMap<object, TurboStreamFactory>;
};
if (nodeResponse[FACTORIES] === undefined) {
  Object.defineProperty(nodeResponse, FACTORIES, { value: new WeakMap() });
}
const offered = nodeResponse[FACTORIES]!;

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
 * and V8 then gives the response a hidden class of its own for every property added). So a Node
 * response is only noted here, and reaches its builder through one getter on
 * `ServerResponse.prototype`, which the responses of every Express app and sub-app inherit from;
 * the builder becomes the response's own property once read. A response that already has its own
 * `turboStream` (read, or set by the app, or by an earlier turboStreams()) gets the new builder
 * at once, as does a response that is no Node response (a test's stand-in): the last
 * turboStreams() a request went through is the one whose views its builder renders.
 */
export function offerTurboStream(res: Response, factory: TurboStreamFactory): void {
  if (
    Object.prototype.hasOwnProperty.call(res, 'turboStream') ||
    !(res instanceof ServerResponse)
  ) {
    res.turboStream = factory(res);
    offered.delete(res);
    return;
  }
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
