import type { NextFunction, Request, Response } from 'express';
import createDebug from 'debug';
import {
  Broadcaster,
  installBroadcaster,
  logBroadcastError,
  uninstallBroadcaster,
} from './broadcaster';
import type { Broker } from './broker/broker';
import { MemoryBroker } from './broker/memory';
import { configureHookQueue } from './commit-queue';
import { runInContext } from './context';
import { discoverStreamsIn } from './discovery';
import { ErrorCodes, TurboExpressError } from './errors';
import { Hub } from './hub';
import { flushRefreshes } from './refresh-debounce';
import { resolveOptions, type TurboStreamsOptions } from './options';
import { resolveStream } from './registry';
import { Renderer } from './render';
import type { Stream } from './stream';
import { StreamNameSigner } from './stream-name';
import { offerTurboStream, turboStreamFactory } from './response-builder';
import type { TurboStreamResponse } from './turbo-stream-response';
import { createSourceTagHelper, type TurboStreamFrom } from './source-tag';
import { passesTest, Subscriptions } from './subscriptions';

const debug = createDebug('turbo-express:sse');

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Response {
      /** Builds a Turbo Stream response to this request; see TurboStreamResponse. */
      turboStream: TurboStreamResponse;
    }
    interface Locals {
      /** Writes the `<turbo-stream-source>` tag that subscribes a page to a stream. */
      turboStreamFrom: TurboStreamFrom;
    }
  }
}

/** The Express middleware `turboStreams()` returns, with what it owns. */
export interface TurboStreamsMiddleware {
  (req: Request, res: Response, next: NextFunction): void;
  /** The broker the middleware publishes and listens through. */
  readonly broker: Broker;
  /** The number of open SSE connections in this process. */
  readonly connectionCount: number;
  /** Resolves once the broker is started and the ES module streams files found are loaded. */
  readonly ready: Promise<void>;
  /** A snapshot of what the SSE side holds, for monitoring and tests. */
  stats(): TurboStreamsStats;
  /**
   * Ends every open stream, stops every timer and closes the broker, so that `server.close()`
   * completes. Subscriptions still being checked, and those arriving afterwards, get 503 with
   * `Connection: close`. Calling it again does nothing.
   */
  close(): Promise<void>;
}

/** What {@link TurboStreamsMiddleware.stats} reports. */
export interface TurboStreamsStats {
  /** Open SSE connections in this process. */
  connections: number;
  /**
   * Subscriptions whose access check (resolving the stream, `currentUser`, `userPassesTest`) is
   * still running; `close()` answers them 503.
   */
  pendingSubscriptions: number;
  /** Streams with at least one open connection in this process. */
  streams: number;
  /**
   * Bytes waiting for clients that read slower than messages arrive, in their queues and their
   * sockets' buffers; each client's share is capped by `maxQueuedBytes`, past which it is dropped.
   */
  backlogBytes: number;
  /** Whether heartbeat or re-check timers are running; false once no connection is open. */
  hasTimers: boolean;
}

/**
 * Mounts live Turbo Streams on an Express app: the SSE endpoint pages subscribe through, the
 * `turboStreamFrom()` view helper, `res.turboStream` for form responses, and the request context
 * broadcasts read (the `X-Turbo-Request-Id`). Creating it also makes its broker and views the ones
 * every stream broadcasts through, and registers the stream classes that discovery finds.
 *
 * `GET <path>/<signed name>` answers 403 for a bad, expired or tampered name and for a user who
 * fails `userPassesTest` (or whose check takes longer than `checkTimeout`), 404 for a name whose
 * class has nothing behind its key (a deleted row), and otherwise opens the stream: headers and
 * `retry:` at once, then what the page missed since it was rendered (or since `Last-Event-ID`),
 * then live messages. A name whose class this process has not registered (one registered only
 * by rendering a page, on a process that has rendered none) gets 200, `retry:`, one
 * `data: <turbo-stream action="refresh"></turbo-stream>` event and the end of the response:
 * the page reloads, which registers the class, and subscribes again; a 404 would make
 * EventSource give up for good.
 *
 * @example
 * app.use(turboStreams({ secret: process.env.TURBO_SECRET }))
 */
export function turboStreams(options: TurboStreamsOptions = {}): TurboStreamsMiddleware {
  const resolved = resolveOptions(options);
  // CommonJS streams files load and register (or throw) here; ES module ones through `ready`.
  const discovered = discoverStreamsIn(resolved.discover);

  const broker = resolved.broker ?? new MemoryBroker(resolved.history);
  const renderer = new Renderer(resolved.views ?? 'views');
  let viewsChosen = resolved.views !== null;
  const broadcaster = new Broadcaster(renderer, broker, resolved.onError ?? logBroadcastError);
  installBroadcaster(broadcaster);
  configureHookQueue(resolved.hookTimeout, function reportSlowHook(waited) {
    const message =
      `An onSave or onDelete ran longer than ${waited} ms: ` +
      'later broadcasts no longer wait for it (hookTimeout)';
    broadcaster.report(
      new TurboExpressError(ErrorCodes.HOOK_TIMEOUT, message),
      ErrorCodes.HOOK_TIMEOUT,
      {},
    );
  });

  const signer = new StreamNameSigner(resolved.secret);
  const hub = new Hub({
    heartbeat: resolved.heartbeat,
    recheckInterval: resolved.recheckInterval,
    checkTimeout: resolved.checkTimeout,
    recheck: async function recheckConnection(connection, round = new Map()) {
      // Connections keep their request whenever re-checks run (recheckInterval is set).
      const req = connection.req!;
      // Resolved again rather than kept: an open connection holds no row, and a stream whose row
      // was deleted since resolves to nothing, which ends its connections.
      let stream = round.get(connection.streamName) as Promise<Stream | null> | undefined;
      if (stream === undefined) {
        stream = resolveStream(connection.streamName).catch(() => null);
        round.set(connection.streamName, stream);
      }
      const current = await stream;
      return current !== null && (await passesTest(current, resolved, req));
    },
  });
  const onBrokerError = (error: Error) => broadcaster.report(error, ErrorCodes.BROKER_FAILED, {});
  const onMissed = () => {
    debug('the broker missed messages: reconnecting %d subscriber(s) to replay', hub.size);
    hub.closeAll();
  };
  const started = Promise.resolve(broker.start(hub.deliver, onBrokerError, onMissed));
  const ready = Promise.all([discovered, started]).then(() => undefined);
  ready.catch(onBrokerError);

  const prefix = resolved.path === '/' ? '/' : `${resolved.path}/`;
  const buildTurboStream = turboStreamFactory(renderer);
  const sourceTag = createSourceTagHelper(signer, resolved, broker);
  let isClosed = false;
  const subscriptions = new Subscriptions({
    options: resolved,
    signer,
    broker,
    hub,
    ready,
    onBrokerError,
  });

  const middleware = function turboStreamsMiddleware(
    req: Request,
    res: Response,
    next: NextFunction,
  ) {
    if (!viewsChosen) {
      viewsChosen = true;
      useAppViews(renderer, req);
    }
    if (req.method === 'GET' && req.path.startsWith(prefix)) {
      const token = req.path.slice(prefix.length);
      if (token.length > 0 && !token.includes('/')) {
        // No view helper or res.turboStream here: a subscription renders nothing, and every
        // property added to an Express response costs it a hidden class of its own, kept for as
        // long as the stream is open when the response stays with Node.
        subscriptions.open(req, res, token);
        return;
      }
    }
    res.locals.turboStreamFrom = sourceTag(req);
    offerTurboStream(res, buildTurboStream);

    const requestId = req.get('x-turbo-request-id');
    if (requestId === undefined) next();
    else runInContext({ requestId }, next);
  } as TurboStreamsMiddleware;

  Object.defineProperties(middleware, {
    broker: { value: broker },
    ready: { value: ready },
    connectionCount: { get: () => hub.size },
    stats: {
      value: function stats(): TurboStreamsStats {
        return {
          connections: hub.size,
          pendingSubscriptions: subscriptions.pendingCount,
          streams: hub.streamCount,
          backlogBytes: hub.backlog,
          hasTimers: hub.hasTimers,
        };
      },
    },
    close: {
      value: async function close() {
        if (isClosed) return;
        isClosed = true;
        const answered = subscriptions.close();
        await flushRefreshes();
        hub.closeAll();
        broadcaster.lost.stop();
        uninstallBroadcaster(broadcaster);
        await Promise.all([broker.close(), answered]);
      },
    },
  });
  return middleware;
}

/**
 * Reads partials from the Express app's `views` setting (its first folder, when it is a list), as
 * the app's own `res.render()` does, when turboStreams() was given no `views` of its own.
 */
function useAppViews(renderer: Renderer, req: Request): void {
  const setting: unknown = (req.app as { get?: (name: string) => unknown } | undefined)?.get?.(
    'views',
  );
  const folder = Array.isArray(setting) ? (setting[0] as unknown) : setting;
  if (typeof folder === 'string' && folder.length > 0) renderer.useViews(folder);
}
