import type { Request, Response } from 'express';
import createDebug from 'debug';
import type { Socket } from 'node:net';
import { endHandedOver, forgetHandedOver, takeOverSocket } from './socket-handover';
import type { Stream } from './stream';
import { messageOf } from './errors';

/** Orders two broker ids; see `Broker.compareIds`. */
export type CompareIds = (a: string, b: string) => number | null;

const debug = createDebug('turbo-express:connection');

/** What a connection needs from whoever owns it. */
export interface ConnectionOwner {
  /** Called with the connection when it has frames to write; the owner calls `flush()` later. */
  markDirty(connection: Connection): void;
  /** Called once when the connection closes, for whatever reason. */
  forget(connection: Connection): void;
}

/** The headers of every SSE response, sent before any message. */
export const SSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'text/event-stream; charset=utf-8',
  // no-transform also keeps compression() and proxies from re-encoding or batching the stream.
  'Cache-Control': 'no-cache, no-transform',
  // nginx and some other proxies buffer responses unless told not to.
  'X-Accel-Buffering': 'no',
});

const CRLF = '\r\n';

/** Which connection a response or socket belongs to, so one listener serves them all. */
const connections = new WeakMap<object, Connection>();

/**
 * One open SSE response. Frames are queued and written together by `flush()`, so several
 * messages in one tick leave in one write.
 *
 * Once the headers are out, the connection takes the socket over from Node's HTTP server when it
 * can (see `takeOverSocket`): the frames of one flush are framed as one HTTP chunk and written to
 * the socket, and that chunk is built once for every connection that flushes the same frames (see
 * `chunkOf`). Express gives each response its own hidden class (V8 turns every property it adds
 * after `Object.setPrototypeOf` into a new map), so `res.write()`'s property reads would miss
 * V8's caches on every connection; the socket's do not. Under compression(), or without chunked
 * encoding (HTTP/1.0), frames go through `res.write()`.
 *
 * Backpressure: once a write answers false, nothing more is written until the socket (or the
 * response, when frames go through `res.write()`) emits `drain`; frames wait in this
 * connection's queue instead. A client whose backlog passes `maxQueuedBytes` when more arrives
 * meanwhile, or that stays congested longer than `stallTimeout`, is dropped: it reconnects with
 * `Last-Event-ID` and replays what it missed. The backlog counts the queue, the live messages
 * held during replay and what the response and its socket still buffer (`res.writableLength`):
 * one flush can hand the socket far more than the cap, and a client that never reads keeps all
 * of it. Congestion itself is read from the write's answer rather than from `writableLength`,
 * because a compressing middleware keeps the backlog in its own buffers, where `writableLength`
 * never sees it (it stays 0 under compression() on Node 20).
 */
export class Connection {
  /**
   * The subscription's request, for re-checks of access (see `takeOverSocket`); `null` where
   * access is never re-checked, so that an open stream holds no request at all.
   */
  readonly req: Request | null;
  readonly streamName: string;
  /** Position in the owner's list for this stream, kept by the owner for O(1) removal. */
  slot = -1;
  isOpen = true;
  /** True while the owner re-checks this connection's access, so checks never overlap. */
  isRechecking = false;

  private readonly owner: ConnectionOwner;
  private readonly maxQueuedBytes: number;
  private readonly stallTimeout: number | null;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private isDirty = false;
  /** True from a write that `res.write()` refused until the response drains. */
  private isCongested = false;
  /** When the write that made the connection congested was refused, from `Date.now()`. */
  private congestedSince = 0;
  /** While replay runs, live messages wait here with their ids, to drop what replay sent. */
  private held: { id: string; frame: Buffer }[] | null = null;
  private heldBytes = 0;
  /** Live messages up to this id were already seen by the client; see `skipThrough`. */
  private seenThrough: string | null = null;
  private compareIds: CompareIds | null = null;
  /** The response, while frames go through `res.write()`; `null` once the socket is taken over. */
  private res: Response | null;
  /** The socket frames are written to, once taken over from Node's HTTP server. */
  private socket: Socket | null = null;
  /** Whether a middleware (compression()) holds output back until `res.flush()`. */
  private readonly hasFlush: boolean;

  /**
   * Only the stream's name is kept: whoever re-checks access resolves the stream again, so an
   * open connection holds no row. `stallTimeout` is in milliseconds; `null` never drops a client
   * for being congested alone.
   */
  constructor(
    req: Request | null,
    res: Response,
    stream: Pick<Stream, 'name'>,
    owner: ConnectionOwner,
    maxQueuedBytes: number,
    stallTimeout: number | null = null,
  ) {
    this.req = req;
    this.res = res;
    this.streamName = stream.name;
    this.owner = owner;
    this.maxQueuedBytes = maxQueuedBytes;
    this.stallTimeout = stallTimeout;
    this.hasFlush = typeof (res as Response & { flush?: unknown }).flush === 'function';
  }

  /** What frames are written to: the taken-over socket, or else the response. */
  private get output(): Socket | Response {
    return this.socket ?? this.res!;
  }

  /** Bytes waiting for this client: in the queue and in the response's and socket's buffers. */
  get backlog(): number {
    const buffered = this.isOpen ? this.output.writableLength : 0;
    return this.queuedBytes + this.heldBytes + buffered;
  }

  /** Bytes that may still be queued for this client before it passes `maxQueuedBytes`. */
  get spareBytes(): number {
    return this.maxQueuedBytes - this.backlog;
  }

  /** Sends the SSE headers and the `retry:` hint at once, before any message. */
  open(req: Request, retryFrame: Buffer): void {
    const res = this.res!;
    res.writeHead(200, SSE_HEADERS);
    res.flushHeaders();
    const socket = takeOverSocket(req, res);
    if (socket !== null) {
      this.res = null;
      this.socket = socket;
    }
    connections.set(this.output, this);
    this.output.on('close', onOutputClose);
    this.enqueue(retryFrame);
    this.flush();
  }

  /** Holds live messages until `release()`, while replay is being written. */
  hold(): void {
    this.held = [];
  }

  /**
   * Drops live messages whose id is not after `id`, which the client already has: a process that
   * has not yet read as far as the one the client came from would otherwise send them again.
   * Ends at the first newer message, since a stream's messages arrive in order.
   */
  skipThrough(id: string, compare: CompareIds): void {
    this.seenThrough = id;
    this.compareIds = compare;
  }

  /** Forgets the id given to `skipThrough`: after a refresh the page holds nothing it names. */
  forgetSeen(): void {
    this.seenThrough = null;
    this.compareIds = null;
  }

  /** Writes the held live messages that replay did not already send, then goes live. */
  release(sentIds: ReadonlySet<string>): void {
    const held = this.held ?? [];
    this.held = null;
    this.heldBytes = 0;
    for (const { id, frame } of held) {
      if (!sentIds.has(id) && !this.isSeen(id)) this.enqueue(frame);
    }
  }

  /** Queues one live message; held while replay runs. */
  deliver(id: string, frame: Buffer): void {
    if (this.seenThrough !== null && this.held === null && this.isSeen(id)) return;
    if (this.held === null) {
      this.enqueue(frame);
      return;
    }
    this.held.push({ id, frame });
    this.heldBytes += frame.length;
    if (this.backlog > this.maxQueuedBytes) this.destroy('its held messages passed maxQueuedBytes');
  }

  private isSeen(id: string): boolean {
    const seen = this.seenThrough;
    if (seen === null) return false;
    const order = this.compareIds!(id, seen);
    if (order !== null && order <= 0) return true;
    this.forgetSeen();
    return false;
  }

  /** Queues a frame to go out with the next flush, or drops the client if too much waits. */
  enqueue(frame: Buffer): void {
    this.push(frame, true);
  }

  /**
   * Queues a replayed frame, without checking `maxQueuedBytes`: the caller sends a replay only
   * when all of it fits in `spareBytes` (and one `refresh` otherwise), since a replay that passed
   * the cap frame by frame would drop every reconnect for ever.
   */
  enqueueReplay(frame: Buffer): void {
    this.push(frame, false);
  }

  private push(frame: Buffer, isCapped: boolean): void {
    if (!this.isOpen) return;
    this.queue.push(frame);
    this.queuedBytes += frame.length;
    // Only a congested socket makes a queue: otherwise it leaves at the next flush, however big.
    if (isCapped && this.isCongested) {
      if (this.backlog > this.maxQueuedBytes)
        return this.destroy('its backlog passed maxQueuedBytes');
      if (this.isStalled()) return this.destroy('congested longer than stallTimeout');
    }
    if (this.isDirty || this.isCongested) return;
    this.isDirty = true;
    this.owner.markDirty(this);
  }

  /** Writes everything queued, unless the response asked to wait for `drain`. */
  flush(): void {
    this.isDirty = false;
    if (!this.isOpen || this.isCongested || this.queue.length === 0) return;
    const frames = this.queue;
    this.queuedBytes = 0;
    const socket = this.socket;
    const isAccepted =
      socket !== null ? socket.write(chunkOf(frames)) : this.writeToResponse(frames);
    // The queue is reused, so the hot path allocates nothing per client beyond the write.
    frames.length = 0;
    if (!isAccepted) this.congest();
  }

  private writeToResponse(frames: Buffer[]): boolean {
    const res = this.res!;
    let isAccepted = true;
    if (frames.length === 1) {
      isAccepted = res.write(frames[0]);
    } else {
      // Corked, the frames leave in one writev without being copied into one Buffer per client.
      res.cork();
      for (let i = 0; i < frames.length; i++) isAccepted = res.write(frames[i]);
      res.uncork();
    }
    // compression() holds output back until told to flush.
    if (this.hasFlush) (res as Response & { flush(): void }).flush();
    return isAccepted;
  }

  private isStalled(): boolean {
    return this.stallTimeout !== null && Date.now() - this.congestedSince > this.stallTimeout;
  }

  /** Stops writing until whatever refused the write drains. */
  private congest(): void {
    this.isCongested = true;
    this.congestedSince = Date.now();
    this.output.on('drain', onOutputDrain);
  }

  /** Ends the response; the client may reconnect. Never throws. */
  end(): void {
    if (!this.isOpen) return;
    if (this.socket !== null) endHandedOver(this.socket);
    else endResponse(this.res!);
    this.onClose();
  }

  /** Closes the connection at once, without ending the response: the client reconnects. */
  destroy(reason: string): void {
    if (!this.isOpen) return;
    debug('dropping %s: %s (%d bytes waiting)', this.streamName, reason, this.backlog);
    this.output.destroy();
    this.onClose();
  }

  /** @internal Called by the drain listener. */
  onDrain(): void {
    if (!this.isCongested) return;
    this.isCongested = false;
    this.stopListeningForDrain();
    this.flush();
  }

  /** @internal Called by the close listener, and on `end()` and drops. */
  onClose(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.queue = [];
    this.queuedBytes = 0;
    this.held = null;
    this.heldBytes = 0;
    this.stopListeningForDrain();
    this.output.off('close', onOutputClose);
    connections.delete(this.output);
    if (this.socket !== null) forgetHandedOver(this.socket);
    this.owner.forget(this);
  }

  private stopListeningForDrain(): void {
    this.output.off('drain', onOutputDrain);
  }
}

/** How long a response whose `res.end()` did not end it may take before its socket is closed. */
const END_WAIT_MS = 1_000;

/**
 * Ends a response that stayed with Node. A middleware's wrapper of `res.end()` may throw once the
 * headers are out (one that sets a header, say): the socket is closed instead. One may also end
 * the response later (express-session saves the session first) or swallow the call: the socket
 * is closed if the response has not ended within `END_WAIT_MS`.
 */
function endResponse(res: Response): void {
  try {
    res.end();
  } catch (error) {
    debug('res.end() threw, closing the socket: %s', messageOf(error));
    res.destroy();
    return;
  }
  if (res.writableEnded) return;
  const timer = setTimeout(function closeUnendedResponse() {
    if (res.writableEnded) return;
    debug('res.end() left the response open: closing the socket');
    res.destroy();
  }, END_WAIT_MS);
  timer.unref();
  res.once('close', () => clearTimeout(timer));
}

// Shared by every connection, instead of two bound functions per connection: `this` is the
// socket or response the connection writes to.
function onOutputClose(this: Socket | Response): void {
  connections.get(this)?.onClose();
}

function onOutputDrain(this: Socket | Response): void {
  connections.get(this)?.onDrain();
}

/** The frames of the last chunk built, and that chunk: consecutive flushes of one broadcast hit. */
let lastFrames: Buffer[] = [];
let lastChunk: Buffer = Buffer.alloc(0);

/**
 * Frames as one HTTP/1.1 chunk (`<size in hex>\r\n<frames>\r\n`), the framing Node's
 * `res.write()` adds on a chunked response. Every connection of a stream flushes the same frames
 * in the same pass, so the chunk is built once per pass, not once per connection; only the last
 * one is kept.
 */
function chunkOf(frames: Buffer[]): Buffer {
  if (isSameFrames(frames, lastFrames)) return lastChunk;
  let size = 0;
  for (let i = 0; i < frames.length; i++) size += frames[i].length;
  // A chunk of size 0 would end the response body.
  if (size === 0) return Buffer.alloc(0);
  const head = `${size.toString(16)}${CRLF}`;
  const chunk = Buffer.allocUnsafe(head.length + size + CRLF.length);
  let offset = chunk.write(head, 0, 'latin1');
  for (let i = 0; i < frames.length; i++) offset += frames[i].copy(chunk, offset);
  chunk.write(CRLF, offset, 'latin1');
  lastFrames = frames.slice();
  lastChunk = chunk;
  return chunk;
}

function isSameFrames(a: Buffer[], b: Buffer[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
