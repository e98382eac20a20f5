import type { NextFunction, Request, Response } from 'express';
import createDebug from 'debug';
import { Broadcaster, installBroadcaster, logBroadcastError, uninstallBroadcaster } from './broadcaster';
import type { Broker } from './broker/broker';
import { MemoryBroker } from './broker/memory';
import { configureHookQueue } from './commit-queue';
import { Connection } from './connection';
import { runInContext } from './context';
import { discoverStreams } from './discovery';
import { ErrorCodes, TurboExpressError, wrapError } from './errors';
import { Hub } from './hub';
import { flushRefreshes } from './refresh-debounce';
import { resolveOptions, type ResolvedOptions, type TurboStreamsOptions } from './options';
import { resolveStream } from './registry';
import { Renderer } from './render';
import { encodeEvent, encodeRetry } from './sse';
import type { Stream } from './stream';
import { StreamNameSigner } from './stream-name';
import { TurboStreamResponse } from './turbo-stream-response';
import { turboStreamTag } from './turbo-stream';
import { createSourceTagHelper, type TurboStreamFrom } from './source-tag';

const debug = createDebug('turbo-express:sse');

/** The one event a client gets when the history cannot cover what it missed: reload the page. */
const REFRESH = turboStreamTag('refresh', {});
const NOTHING_SENT: ReadonlySet<string> = new Set();

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
   * completes. Subscriptions arriving afterwards get 503. Calling it again does nothing.
   */
  close(): Promise<void>;
}

/** What {@link TurboStreamsMiddleware.stats} reports. */
export interface TurboStreamsStats {
  /** Open SSE connections in this process. */
  connections: number;
  /** Streams with at least one open connection in this process. */
  streams: number;
  /**
   * Bytes waiting in memory for clients that read slower than messages arrive; each client's
   * share is capped by `maxQueuedBytes` (replay aside), past which it is dropped.
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
 * fails `userPassesTest`, 404 for a name that stands for nothing, and otherwise opens the stream:
 * headers and `retry:` at once, then what the page missed since it was rendered (or since
 * `Last-Event-ID`), then live messages.
 *
 * @example
 * app.use(turboStreams({ secret: process.env.TURBO_SECRET }))
 */
export function turboStreams(options: TurboStreamsOptions = {}): TurboStreamsMiddleware {
  const resolved = resolveOptions(options);
  // CommonJS streams files load (or throw) here; ES module ones are awaited through `ready`.
  const discovered = Promise.all(resolved.discover.map((folder) => discoverStreams(folder)));

  const broker = resolved.broker ?? new MemoryBroker(resolved.history);
  const renderer = new Renderer(resolved.views);
  const broadcaster = new Broadcaster(renderer, broker, resolved.onError ?? logBroadcastError);
  installBroadcaster(broadcaster);
  configureHookQueue(resolved.hookTimeout, function reportSlowHook(waited) {
    const message = `An onSave or onDelete ran longer than ${waited} ms: later broadcasts no longer wait for it (hookTimeout)`;
    broadcaster.report(new TurboExpressError(ErrorCodes.HOOK_TIMEOUT, message), ErrorCodes.HOOK_TIMEOUT, {});
  });

  const signer = new StreamNameSigner(resolved.secret);
  const retryFrame = encodeRetry(resolved.retry);
  const hub = new Hub({
    heartbeat: resolved.heartbeat,
    recheckInterval: resolved.recheckInterval,
    recheck: async function recheckConnection(connection, round = new Map()) {
      // Resolved again rather than kept: an open connection holds no row, and a stream whose row
      // was deleted since resolves to nothing, which ends its connections.
      let stream = round.get(connection.streamName) as Promise<Stream | null> | undefined;
      if (stream === undefined) {
        stream = resolveStream(connection.streamName).catch(() => null);
        round.set(connection.streamName, stream);
      }
      const current = await stream;
      return current !== null && (await passes(current, resolved, connection.req));
    },
  });
  const compareIds = broker.compareIds?.bind(broker);
  const onBrokerError = (error: Error) =>
    broadcaster.report(error, ErrorCodes.BROKER_FAILED, {});
  const onMissed = () => {
    debug('the broker missed messages: reconnecting %d subscriber(s) to replay', hub.size);
    hub.closeAll();
  };
  const started = Promise.resolve(broker.start(hub.deliver, onBrokerError, onMissed));
  const ready = Promise.all([discovered, started]).then(() => undefined);
  ready.catch(onBrokerError);

  const prefix = resolved.path === '/' ? '/' : `${resolved.path}/`;
  const sourceTag = createSourceTagHelper(signer, resolved, broker);

  let isClosed = false;

  async function subscribe(req: Request, res: Response, token: string): Promise<void> {
    if (isClosed) return refuse(res, 503, 'shutting down');
    const verified = signer.verify(token);
    if (verified === null) return refuse(res, 403, 'bad stream name');

    // A key the model cannot take (text for an integer key in PostgreSQL) makes findByPk throw:
    // that name stands for nothing, so 404, not 500.
    const stream = await resolveStream(verified.name).catch((error: unknown) => {
      debug('resolving %s failed: %s', verified.name, (error as Error)?.message);
      return null;
    });
    if (isGone(req, res)) return;
    if (stream === null) return refuse(res, 404, 'unknown stream');
    if (!(await passes(stream, resolved, req))) {
      if (!isGone(req, res)) refuse(res, 403, 'userPassesTest failed');
      return;
    }
    await ready;
    if (isGone(req, res)) return;
    if (isClosed) return refuse(res, 503, 'shutting down');

    const connection = new Connection(req, res, stream, hub, resolved.maxQueuedBytes);
    const afterId = stringValue(req.get('last-event-id')) ?? stringValue(req.query.after);
    if (afterId !== undefined && compareIds !== undefined) connection.skipThrough(afterId, compareIds);
    // From here every live message is held, and the gap position is taken in the same turn, so a
    // refresh sent for a gap carries an id that nothing held comes before.
    connection.hold();
    const gapId = broker.position();
    hub.add(connection);
    connection.open(retryFrame);
    debug('open %s (%d open)', connection.streamName, hub.size);

    if (afterId === undefined) return connection.release(NOTHING_SENT);
    const missed = await broker.replay(connection.streamName, afterId).catch((error: unknown) => {
      onBrokerError(wrapError(error, ErrorCodes.BROKER_FAILED, { stream: connection.streamName }));
      return null;
    });
    // The client may have left while replay was awaited; the hub has forgotten it already.
    if (!connection.isOpen) return;

    if (missed === null) {
      debug('gap on %s after %s: sending refresh', connection.streamName, afterId);
      connection.enqueueReplay(encodeEvent(gapId, REFRESH));
      return connection.release(NOTHING_SENT);
    }
    const sentIds = new Set<string>();
    for (const message of missed) {
      sentIds.add(message.id);
      connection.enqueueReplay(encodeEvent(message.id, message.data));
    }
    connection.release(sentIds);
  }

  const middleware = function turboStreamsMiddleware(req: Request, res: Response, next: NextFunction) {
    if (req.method === 'GET' && req.path.startsWith(prefix)) {
      const token = req.path.slice(prefix.length);
      if (token.length > 0 && !token.includes('/')) {
        // No view helper or res.turboStream here: a subscription renders nothing, and every
        // property added to an Express response costs it a hidden class of its own, kept as long
        // as the stream stays open.
        subscribe(req, res, token).catch((error: unknown) => {
          debug('subscribe failed: %s', (error as Error)?.message);
          if (!res.headersSent && !isGone(req, res)) refuse(res, 500, 'internal error');
          else res.destroy();
        });
        return;
      }
    }
    res.locals.turboStreamFrom = sourceTag(req);
    res.turboStream = new TurboStreamResponse(res, renderer);

    const requestId = req.get('x-turbo-request-id');
    runInContext({ request: req, requestId }, next);
  } as TurboStreamsMiddleware;

  Object.defineProperties(middleware, {
    broker: { value: broker },
    ready: { value: ready },
    connectionCount: { get: () => hub.size },
    stats: {
      value: function stats(): TurboStreamsStats {
        return {
          connections: hub.size,
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
        await flushRefreshes();
        hub.closeAll();
        broadcaster.lost.stop();
        uninstallBroadcaster(broadcaster);
        await broker.close();
      },
    },
  });
  return middleware;
}

async function passes(
  stream: { userPassesTest(user: unknown, req: Request): boolean | Promise<boolean> },
  options: ResolvedOptions,
  req: Request,
): Promise<boolean> {
  try {
    const user = await options.currentUser(req);
    return (await stream.userPassesTest(user, req)) === true;
  } catch (error) {
    debug('userPassesTest threw: %s', (error as Error)?.message);
    return false;
  }
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  403: 'Forbidden',
  404: 'Not Found',
  503: 'Service Unavailable',
};

function refuse(res: Response, status: number, reason: string): void {
  debug('refused %d: %s', status, reason);
  res.status(status).type('text/plain').send(STATUS_TEXT[status] ?? 'Error');
}

/** Tells whether the client left while the request was being handled. */
function isGone(req: Request, res: Response): boolean {
  return req.destroyed || res.destroyed || res.writableEnded;
}

function stringValue(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
