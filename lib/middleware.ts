import type { NextFunction, Request, Response } from 'express';
import createDebug from 'debug';
import { Broadcaster, installBroadcaster, logBroadcastError, uninstallBroadcaster } from './broadcaster';
import type { Broker, BrokerMessage } from './broker/broker';
import { MemoryBroker } from './broker/memory';
import { configureHookQueue } from './commit-queue';
import { Connection, SSE_HEADERS } from './connection';
import { runInContext } from './context';
import { discoverStreams } from './discovery';
import { ErrorCodes, TurboExpressError, wrapError } from './errors';
import { Hub } from './hub';
import { flushRefreshes } from './refresh-debounce';
import { resolveOptions, type ResolvedOptions, type TurboStreamsOptions } from './options';
import { hasStreamClass, resolveStream } from './registry';
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

/** Why a subscription's access check let it through to no stream. */
type Refusal = 'unknown class' | 'not found' | 'forbidden' | 'timed out';

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
    checkTimeout: resolved.checkTimeout,
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
  /** Responses of subscriptions whose access check is still running, answered 503 on close(). */
  const pending = new Set<Response>();
  const unknownClassAnswer = Buffer.concat([retryFrame, encodeEvent(null, REFRESH)]);

  /** Resolves the stream and runs the access test: the stream, or why there is none. */
  async function check(name: string, req: Request): Promise<Stream | Refusal> {
    // A key the model cannot take (text for an integer key in PostgreSQL) makes findByPk throw:
    // that name stands for nothing, so 404, not 500.
    const stream = await resolveStream(name).catch((error: unknown) => {
      debug('resolving %s failed: %s', name, (error as Error)?.message);
      return null;
    });
    if (stream === null) return hasStreamClass(name) ? 'not found' : 'unknown class';
    return (await passes(stream, resolved, req)) ? stream : 'forbidden';
  }

  async function subscribe(req: Request, res: Response, token: string): Promise<void> {
    if (isClosed) return refuse(res, 503, 'shutting down');
    const verified = signer.verify(token);
    if (verified === null) return refuse(res, 403, 'bad stream name');

    pending.add(res);
    let stream: Stream | Refusal;
    try {
      // Classes in ES module streams files are registered once `ready`: wait for them before
      // telling an unknown class from a known one.
      await ready;
      stream = await withTimeout(check(verified.name, req), resolved.checkTimeout, 'timed out');
    } finally {
      pending.delete(res);
    }
    // Gone also covers a subscription close() answered while its check ran.
    if (isGone(req, res)) return;
    if (isClosed) return refuse(res, 503, 'shutting down');
    if (stream === 'unknown class') return answerUnknownClass(res, verified.name);
    if (stream === 'not found') return refuse(res, 404, 'unknown stream');
    // A check that ran out of time grants nothing.
    if (stream === 'forbidden' || stream === 'timed out') {
      return refuse(res, 403, `userPassesTest ${stream}`);
    }

    const { maxQueuedBytes, stallTimeout } = resolved;
    const connection = new Connection(req, res, stream, hub, maxQueuedBytes, stallTimeout);
    const afterId = replayPositionOf(req);
    if (typeof afterId === 'string' && compareIds !== undefined) {
      connection.skipThrough(afterId, compareIds);
    }
    // From here every live message is held, and the gap position is taken in the same turn, so a
    // refresh sent for a gap carries an id that nothing held comes before.
    connection.hold();
    const gapId = broker.position();
    hub.add(connection);
    connection.open(retryFrame);
    debug('open %s (%d open)', connection.streamName, hub.size);

    if (afterId === undefined) return connection.release(NOTHING_SENT);
    const name = connection.streamName;
    const missed =
      afterId === null
        ? null
        : await broker.replay(name, afterId).catch((error: unknown) => {
            onBrokerError(wrapError(error, ErrorCodes.BROKER_FAILED, { stream: name }));
            return null;
          });
    // The client may have left while replay was awaited; the hub has forgotten it already.
    if (!connection.isOpen) return;

    const frames = missed === null ? null : framesWithin(missed, connection.spareBytes);
    if (frames === null) {
      const why = missed === null ? 'a gap' : 'a replay past maxQueuedBytes';
      debug('%s on %s after %s: sending refresh', why, name, afterId);
      connection.enqueueReplay(encodeEvent(gapId, REFRESH));
      return connection.release(NOTHING_SENT);
    }
    const sentIds = new Set<string>();
    for (let i = 0; i < frames.length; i++) {
      sentIds.add(missed![i].id);
      connection.enqueueReplay(frames[i]);
    }
    connection.release(sentIds);
  }

  /**
   * Answers a validly signed name whose class this process does not know with one refresh, then
   * ends: the reloaded page registers the class by rendering, and subscribes again.
   */
  function answerUnknownClass(res: Response, name: string): void {
    debug('no class registered for %s: sending refresh', name);
    res.writeHead(200, SSE_HEADERS);
    res.end(unknownClassAnswer);
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
          pendingSubscriptions: pending.size,
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
        // A check that never settles would otherwise keep its socket, and server.close(), open.
        for (const res of pending) {
          if (!res.headersSent && !res.destroyed) refuse(res, 503, 'shutting down');
        }
        pending.clear();
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
  // Once shutting down, the socket closes with the answer instead of waiting for another request.
  if (status === 503) res.set('Connection', 'close');
  res.status(status).type('text/plain').send(STATUS_TEXT[status] ?? 'Error');
}

/** Tells whether the client left while the request was being handled. */
function isGone(req: Request, res: Response): boolean {
  return req.destroyed || res.destroyed || res.writableEnded;
}

/**
 * The id replay starts after: `Last-Event-ID`, else the render position in `?after=`.
 * `undefined` when there is neither (only live messages), `null` for a position that cannot be
 * one id (`?after=` empty or repeated), which is a gap like any other id the history cannot place.
 */
function replayPositionOf(req: Request): string | null | undefined {
  const lastEventId = req.get('last-event-id');
  // EventSource sends no Last-Event-ID rather than an empty one; read an empty one as absent.
  if (lastEventId !== undefined && lastEventId.length > 0) return lastEventId;
  const after: unknown = req.query.after;
  if (after === undefined) return undefined;
  return typeof after === 'string' && after.length > 0 ? after : null;
}

/**
 * Encodes the replay if all of it fits in `budget` bytes, else `null`: a client gets the whole
 * replay or one refresh, never part of it, and never more than `maxQueuedBytes` for it.
 */
function framesWithin(messages: readonly BrokerMessage[], budget: number): Buffer[] | null {
  const frames: Buffer[] = [];
  let bytes = 0;
  for (const message of messages) {
    const frame = encodeEvent(message.id, message.data);
    bytes += frame.length;
    if (bytes > budget) return null;
    frames.push(frame);
  }
  return frames;
}

/** Settles as `work` does, or with `onTimeout` after `timeout` ms; `null` waits for ever. */
function withTimeout<T, U>(work: Promise<T>, timeout: number | null, onTimeout: U): Promise<T | U> {
  if (timeout === null) return work;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<U>((resolve) => {
    timer = setTimeout(resolve, timeout, onTimeout);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
