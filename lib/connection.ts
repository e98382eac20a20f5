import type { Request, Response } from 'express';
import createDebug from 'debug';
import type { Stream } from './stream';

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
  Connection: 'keep-alive',
  // nginx and some other proxies buffer responses unless told not to.
  'X-Accel-Buffering': 'no',
});

/**
 * One open SSE response. Frames are queued and written together by `flush()`, so several
 * messages in one tick leave in one write.
 *
 * Backpressure: once `res.write()` answers false, nothing more is written until the response
 * emits `drain`; frames wait in this connection's queue instead. A client whose queue grows past
 * `maxQueuedBytes` meanwhile (or whose live messages held during replay do) is dropped: it
 * reconnects with `Last-Event-ID` and replays what it missed. The
 * write's answer is trusted rather than `res.writableLength`, because a compressing middleware
 * keeps the backlog in its own buffers, where `writableLength` never sees it (it stays 0 under
 * compression() on Node 20).
 */
export class Connection {
  readonly req: Request;
  readonly res: Response;
  readonly stream: Stream;
  readonly streamName: string;
  /** Position in the owner's list for this stream, kept by the owner for O(1) removal. */
  slot = -1;
  isOpen = true;

  private readonly owner: ConnectionOwner;
  private readonly maxQueuedBytes: number;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private isDirty = false;
  /** True from a write that `res.write()` refused until the response drains. */
  private isCongested = false;
  /** While replay runs, live messages wait here with their ids, to drop what replay sent. */
  private held: { id: string; frame: Buffer }[] | null = null;
  private heldBytes = 0;
  /** Live messages up to this id were already seen by the client; see `skipThrough`. */
  private seenThrough: { id: string; compare: CompareIds } | null = null;

  constructor(
    req: Request,
    res: Response,
    stream: Stream,
    owner: ConnectionOwner,
    maxQueuedBytes: number,
  ) {
    this.req = req;
    this.res = res;
    this.stream = stream;
    this.streamName = stream.name;
    this.owner = owner;
    this.maxQueuedBytes = maxQueuedBytes;
    this.onClose = this.onClose.bind(this);
    this.onDrain = this.onDrain.bind(this);
    res.on('close', this.onClose);
    res.on('drain', this.onDrain);
  }

  /** Bytes waiting for this client: in the queue and in the response's own buffer. */
  get backlog(): number {
    return this.queuedBytes + this.heldBytes + (this.isOpen ? this.res.writableLength : 0);
  }

  /** Sends the SSE headers and the `retry:` hint at once, before any message. */
  open(retryFrame: Buffer): void {
    this.res.writeHead(200, SSE_HEADERS);
    this.res.flushHeaders();
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
    this.seenThrough = { id, compare };
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
    if (this.heldBytes > this.maxQueuedBytes) this.drop();
  }

  private isSeen(id: string): boolean {
    const seen = this.seenThrough;
    if (seen === null) return false;
    const order = seen.compare(id, seen.id);
    if (order !== null && order <= 0) return true;
    this.seenThrough = null;
    return false;
  }

  /** Queues a frame to go out with the next flush, or drops the client if too much waits. */
  enqueue(frame: Buffer): void {
    this.push(frame, true);
  }

  /**
   * Queues a replayed frame. Replay is exempt from `maxQueuedBytes`, since the history already
   * bounds it: a replay larger than the cap would otherwise drop every reconnect for ever.
   */
  enqueueReplay(frame: Buffer): void {
    this.push(frame, false);
  }

  private push(frame: Buffer, isCapped: boolean): void {
    if (!this.isOpen) return;
    this.queue.push(frame);
    this.queuedBytes += frame.length;
    // Only a congested socket makes a queue: otherwise it leaves at the next flush, however big.
    if (isCapped && this.isCongested && this.queuedBytes > this.maxQueuedBytes) {
      this.drop();
      return;
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

    const res = this.res;
    let isAccepted: boolean;
    if (frames.length === 1) {
      isAccepted = res.write(frames[0]);
    } else {
      // Corked, the frames leave in one writev without being copied into one Buffer per client.
      res.cork();
      isAccepted = true;
      for (let i = 0; i < frames.length; i++) isAccepted = res.write(frames[i]);
      res.uncork();
    }
    // The queue is reused, so the hot path allocates nothing per client beyond the write.
    frames.length = 0;
    // compression() holds output back until told to flush.
    (res as Response & { flush?: () => void }).flush?.();
    if (!isAccepted) this.isCongested = true;
  }

  /** Ends the response; the client may reconnect. */
  end(): void {
    if (!this.isOpen) return;
    this.res.end();
    this.onClose();
  }

  private drop(): void {
    debug('dropping %s: %d bytes queued', this.streamName, this.queuedBytes);
    this.res.destroy();
    this.onClose();
  }

  private onDrain(): void {
    if (!this.isCongested) return;
    this.isCongested = false;
    this.flush();
  }

  private onClose(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.queue = [];
    this.queuedBytes = 0;
    this.held = null;
    this.heldBytes = 0;
    this.res.off('drain', this.onDrain);
    this.owner.forget(this);
  }
}
