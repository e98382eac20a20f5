import type { Request, Response } from 'express';
import createDebug from 'debug';
import type { Socket } from 'node:net';
import type { Broker, BrokerMessage } from './broker/broker';
import { Connection, SSE_HEADERS, type CompareIds } from './connection';
import { ErrorCodes, TurboExpressError, messageOf } from './errors';
import type { Hub } from './hub';
import type { ResolvedOptions } from './options';
import { hasStreamClass, resolveStream } from './registry';
import { encodeEvent, encodeRetry } from './sse';
import type { Stream } from './stream';
import type { StreamNameSigner } from './stream-name';
import { turboStreamTag } from './turbo-stream';

const debug = createDebug('turbo-express:sse');

/** The one event a client gets when the history cannot cover what it missed: reload the page. */
const REFRESH = turboStreamTag('refresh', {});
const NOTHING_SENT: ReadonlySet<string> = new Set();

/** Why a subscription's access check let it through to no stream. */
type Refusal = 'unknown class' | 'not found' | 'forbidden' | 'timed out' | 'not ready';

/** What the subscriptions of one middleware share. */
export interface SubscriptionsContext {
  options: ResolvedOptions;
  signer: StreamNameSigner;
  broker: Broker;
  hub: Hub;
  /** Resolves once the broker is started and discovered streams files are loaded. */
  ready: Promise<void>;
  onBrokerError(error: Error): void;
}

/**
 * Opens SSE subscriptions: `GET <path>/<signed name>` verified, resolved and authorised, then
 * headers and `retry:` at once, what the page missed (after `Last-Event-ID` or the render
 * position signed into the name, never before the latter), then live messages. Answers 403 for a
 * bad name or a failed or timed-out check, 404 for a row that no longer exists, one refresh for a
 * class this process has not registered, a bare `retry:` (reconnect later) while the broker has
 * not started within `checkTimeout`, and 503 once closed.
 */
export class Subscriptions {
  private readonly context: SubscriptionsContext;
  private readonly retryFrame: Buffer;
  private readonly unknownClassAnswer: Buffer;
  private readonly compareIds: CompareIds | undefined;
  /**
   * Responses of subscriptions whose access check is still running, or that wait for their
   * socket behind another response: answered 503 on close().
   */
  private readonly pending = new Set<Response>();
  private isClosed = false;
  /** Whether `ready` has resolved: from then on no subscription waits for it. */
  private isReady = false;

  constructor(context: SubscriptionsContext) {
    this.context = context;
    this.retryFrame = encodeRetry(context.options.retry);
    this.unknownClassAnswer = Buffer.concat([this.retryFrame, encodeEvent(null, REFRESH)]);
    this.compareIds = context.broker.compareIds?.bind(context.broker);
    context.ready.then(
      () => (this.isReady = true),
      () => {},
    );
  }

  /** Subscriptions whose access check is still running, for clients still there. */
  get pendingCount(): number {
    let count = 0;
    for (const res of this.pending) if (!res.destroyed) count += 1;
    return count;
  }

  /** Handles one subscription request; never throws into the caller. */
  open(req: Request, res: Response, token: string): void {
    this.subscribe(req, res, token).catch(function onSubscribeError(error: unknown) {
      debug('subscribe failed: %s', messageOf(error));
      if (!res.headersSent && !isGone(req, res)) refuse(res, 500, 'internal error');
      else res.destroy();
    });
  }

  /**
   * Refuses new subscriptions and answers those still being checked, or waiting for their socket,
   * with 503: a check that never settles would otherwise keep its socket, and `server.close()`,
   * open. Resolves once those answers have left or their sockets closed, within
   * `ANSWER_WAIT_MS`: an answer waiting behind another response on its socket leaves only after
   * that response, and a `server.close()` called earlier would close the socket under it.
   */
  close(): Promise<void> {
    this.isClosed = true;
    const answers: Promise<void>[] = [];
    for (const res of this.pending) {
      if (res.headersSent || res.destroyed) continue;
      refuse(res, 503, 'shutting down');
      answers.push(answerLeft(res));
    }
    this.pending.clear();
    return withTimeout(Promise.all(answers), ANSWER_WAIT_MS, undefined).then(() => undefined);
  }

  /** Runs `work` with `res` among the pending subscriptions, which `close()` answers 503. */
  private async whilePending<T>(res: Response, work: () => Promise<T>): Promise<T> {
    this.pending.add(res);
    try {
      return await work();
    } finally {
      this.pending.delete(res);
    }
  }

  /**
   * Whether a subscription that waited may go on: not if its client left or `close()` answered it
   * meanwhile, nor once `close()` was called (it is answered 503 here).
   */
  private goesOn(req: Request, res: Response): boolean {
    if (isGone(req, res)) return false;
    if (!this.isClosed) return true;
    refuse(res, 503, 'shutting down');
    return false;
  }

  private async subscribe(req: Request, res: Response, token: string): Promise<void> {
    const { options, signer, broker, hub } = this.context;
    if (this.isClosed) return refuse(res, 503, 'shutting down');
    // A request pipelined behind another response on its socket has no socket of its own yet,
    // and its response never emits 'close'. It is checked once it has one, so that the access
    // it is granted is the user's at that time, not when it was queued, and it holds nothing
    // meanwhile. Browsers never pipeline: a second one queued on a socket closes the connection,
    // as queued requests that write nothing would otherwise pile up without bound.
    if (res.socket === null) {
      if (waitingOn.has(req.socket)) {
        debug('a second subscription pipelined on one connection: closing it');
        req.socket.destroy();
        return;
      }
      const isAssigned = await this.whilePending(res, () => socketAssigned(req, res));
      if (!isAssigned || !this.goesOn(req, res)) return;
    }
    const verified = signer.verify(token);
    if (verified === null) return refuse(res, 403, 'bad stream name');

    const stream = await this.whilePending<Stream | Refusal>(res, async () => {
      // Classes in ES module streams files are registered once `ready`: wait for them before
      // telling an unknown class from a known one. A broker still connecting gets as long as a
      // check does.
      if (!this.isReady) {
        const isReady = this.context.ready.then(() => true);
        if (!(await withTimeout(isReady, options.checkTimeout, false))) return 'not ready';
      }
      return withTimeout(this.check(verified.name, req), options.checkTimeout, 'timed out');
    });
    if (!this.goesOn(req, res)) return;
    if (stream === 'not ready') return this.answerNotReady(res);
    if (stream === 'unknown class') return this.answerUnknownClass(res, verified.name);
    if (stream === 'not found') return refuse(res, 404, 'unknown stream');
    // A check that ran out of time grants nothing.
    if (stream === 'forbidden' || stream === 'timed out') {
      return refuse(res, 403, `userPassesTest ${stream}`);
    }

    const { maxQueuedBytes, stallTimeout, recheckInterval } = options;
    // Express gives every request a hidden class of its own (about 1 KB): kept only for re-checks.
    const kept = recheckInterval === null ? null : req;
    const connection = new Connection(kept, res, stream, hub, maxQueuedBytes, stallTimeout);
    const afterId = replayPositionOf(req, verified.after, this.compareIds);
    if (typeof afterId === 'string' && this.compareIds !== undefined) {
      connection.skipThrough(afterId, this.compareIds);
    }
    // From here every live message is held, and the gap position is taken in the same turn, so a
    // refresh sent for a gap carries an id that nothing held comes before.
    connection.hold();
    const gapId = broker.position();
    hub.add(connection);
    try {
      connection.open(req, this.retryFrame);
    } catch (error) {
      connection.destroy('opening failed');
      throw error;
    }
    debug('open %s (%d open)', connection.streamName, hub.size);

    if (afterId === undefined) return connection.release(NOTHING_SENT);
    await this.replay(connection, afterId, gapId);
  }

  /** Writes what the client missed after `afterId`, or one refresh when that cannot be done. */
  private async replay(connection: Connection, afterId: string | null, gapId: string) {
    const name = connection.streamName;
    const missed =
      afterId === null
        ? null
        : await this.context.broker.replay(name, afterId).catch((error: unknown) => {
            const reason = error instanceof Error ? error.message : String(error);
            this.context.onBrokerError(
              new TurboExpressError(
                ErrorCodes.BROKER_FAILED,
                `Replay for a reconnecting page failed (it gets a refresh): ${reason}`,
                { stream: name },
                error,
              ),
            );
            return null;
          });
    // The client may have left while replay was awaited; the hub has forgotten it already.
    if (!connection.isOpen) return;

    const frames = missed === null ? null : framesWithin(missed, connection.spareBytes);
    if (frames === null) {
      const why = missed === null ? 'a gap' : 'a replay past maxQueuedBytes';
      debug('%s on %s after %s: sending refresh', why, name, afterId);
      // What follows the refresh is news to the page, whatever id it came back with (one from
      // ahead of the broker would otherwise hold back every live message).
      connection.forgetSeen();
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

  /** Resolves the stream and runs the access test: the stream, or why there is none. */
  private async check(name: string, req: Request): Promise<Stream | Refusal> {
    // A key the model cannot take (text for an integer key in PostgreSQL) makes findByPk throw:
    // that name stands for nothing, so 404, not 500.
    const stream = await resolveStream(name).catch((error: unknown) => {
      debug('resolving %s failed: %s', name, messageOf(error));
      return null;
    });
    if (stream === null) return hasStreamClass(name) ? 'not found' : 'unknown class';
    return (await passesTest(stream, this.context.options, req)) ? stream : 'forbidden';
  }

  /**
   * Answers a subscription that waited `checkTimeout` for the broker to start with `retry:` and
   * the end of the stream: EventSource reconnects after `retry` ms, where a 503 would make it give
   * up for good. The reconnection replays from its render position like any other.
   */
  private answerNotReady(res: Response): void {
    debug('the broker has not started yet: asking the client to reconnect');
    res.writeHead(200, SSE_HEADERS);
    res.end(this.retryFrame);
  }

  /**
   * Answers a validly signed name whose class this process does not know with one refresh, then
   * ends: the reloaded page registers the class by rendering, and subscribes again. A 404 would
   * make EventSource give up for good.
   */
  private answerUnknownClass(res: Response, name: string): void {
    debug('no class registered for %s: sending refresh', name);
    res.writeHead(200, SSE_HEADERS);
    res.end(this.unknownClassAnswer);
  }
}

/** How long `close()` waits for its 503 answers to leave. */
const ANSWER_WAIT_MS = 1000;

/** Resolves once a response has been written out, or its socket closed. */
function answerLeft(res: Response): Promise<void> {
  return new Promise((resolve) => {
    res.once('finish', () => resolve());
    res.once('close', () => resolve());
  });
}

/** What each subscription waiting on a socket runs if it closes: one listener serves them all. */
const waitingOn = new WeakMap<Socket, Set<() => void>>();

/**
 * Resolves true once Node hands the response its socket (the responses before it on a kept-alive
 * socket ended), false if the socket closes first.
 */
function socketAssigned(req: Request, res: Response): Promise<boolean> {
  const socket = req.socket;
  if (socket.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    let waiters = waitingOn.get(socket);
    if (waiters === undefined) {
      waiters = new Set();
      waitingOn.set(socket, waiters);
      socket.once('close', onWaitedSocketClose);
    }
    const onClosed = () => {
      res.off('socket', onSocket);
      resolve(false);
    };
    const onSocket = () => {
      waiters.delete(onClosed);
      if (waiters.size === 0) {
        socket.off('close', onWaitedSocketClose);
        waitingOn.delete(socket);
      }
      resolve(true);
    };
    waiters.add(onClosed);
    res.once('socket', onSocket);
  });
}

function onWaitedSocketClose(this: Socket): void {
  const waiters = waitingOn.get(this);
  waitingOn.delete(this);
  for (const onClosed of waiters ?? []) onClosed();
}

/** Runs `currentUser` and the stream's `userPassesTest`; anything thrown counts as failing. */
export async function passesTest(
  stream: { userPassesTest(user: unknown, req: Request): boolean | Promise<boolean> },
  options: Pick<ResolvedOptions, 'currentUser'>,
  req: Request,
): Promise<boolean> {
  try {
    const user = await options.currentUser(req);
    return (await stream.userPassesTest(user, req)) === true;
  } catch (error) {
    debug('userPassesTest threw: %s', messageOf(error));
    return false;
  }
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  403: 'Forbidden',
  404: 'Not Found',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

function refuse(res: Response, status: number, reason: string): void {
  debug('refused %d: %s', status, reason);
  // Once shutting down, the socket closes with the answer instead of waiting for another request.
  if (status === 503) res.set('Connection', 'close');
  res
    .status(status)
    .type('text/plain')
    .send(STATUS_TEXT[status] ?? 'Error');
}

/** Tells whether the client left while the request was being handled. */
function isGone(req: Request, res: Response): boolean {
  return req.destroyed || res.destroyed || res.writableEnded;
}

/**
 * The id replay starts after: the signed render position, or `Last-Event-ID` when the browser
 * reconnects, but never an id before the render position: what was broadcast before the page
 * was rendered (a deleted message, an edit's earlier text, messages from before the user was let
 * in) is not the page's to see. A `Last-Event-ID` that cannot be placed against the render
 * position (another epoch, a page rendered before the broker started, garbage) is a gap: `null`,
 * answered with a refresh. `undefined` when there is no position at all: only live messages.
 */
function replayPositionOf(
  req: Request,
  renderedAt: string | null,
  compareIds: CompareIds | undefined,
): string | null | undefined {
  const lastEventId = req.get('last-event-id');
  // EventSource sends no Last-Event-ID rather than an empty one; read an empty one as absent.
  if (lastEventId === undefined || lastEventId.length === 0) return renderedAt ?? undefined;
  if (renderedAt === null || compareIds === undefined) return lastEventId;
  const order = compareIds(lastEventId, renderedAt);
  if (order === null) return null;
  return order < 0 ? renderedAt : lastEventId;
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
    // Unref'd: a wait cut short by close() must not keep a process alive that is otherwise done.
    timer = setTimeout(resolve, timeout, onTimeout).unref();
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
