import { broadcastsSettled } from './commit-queue';
import { flushRefreshes } from './refresh-debounce';
import type { TurboStreamAction } from './turbo-stream';

/** One broadcast as a {@link BroadcastRecorder} saw it. */
export interface RecordedBroadcast {
  /** The stream name, such as `Room:1`. */
  stream: string;
  /** The Turbo action, such as `append`. */
  action: TurboStreamAction;
  /** The element id the action applies to, if it has one. */
  target?: string;
  /** The CSS selector the action applies to, if it has one. */
  targets?: string;
  /** The partial that was rendered, if the content came from one. */
  template?: string;
  /** The rendered content of the `<template>`, empty for remove and refresh. */
  html: string;
  /** The whole `<turbo-stream>` element as it was sent. */
  element: string;
}

/**
 * Captures what application code broadcasts, without a server, for the application's own tests:
 * every broadcast sent while it records is appended to `broadcasts`, with its stream, action,
 * target or targets, partial and rendered HTML. Nothing suppressed by `withoutBroadcasts()` and
 * nothing whose partial failed is recorded. Get one from `recordBroadcasts()` and call `stop()`
 * when done.
 *
 * @example
 * const recorder = recordBroadcasts()
 * await Message.create({ roomId: room.id, body: 'hi' })
 * await recorder.settled()
 * expect(recorder.on(room.stream)).to.have.length(1)
 * recorder.stop()
 */
export class BroadcastRecorder {
  /** Everything broadcast since the recorder started or was last cleared, in order. */
  readonly broadcasts: RecordedBroadcast[] = [];
  private readonly detach: () => void;

  /** @internal Use `recordBroadcasts()`. */
  constructor(detach: () => void) {
    this.detach = detach;
  }

  /**
   * The broadcasts sent on one stream, given as a stream (`room.stream`), a row whose model has a
   * registered ModelStream (`room`), or a stream name (`'Room:1'`).
   */
  on(stream: { name: string } | { stream: { name: string } } | string): RecordedBroadcast[] {
    const name = typeof stream === 'string' ? stream : streamNameOf(stream);
    return this.broadcasts.filter((broadcast) => broadcast.stream === name);
  }

  /** Forgets what was recorded so far. */
  clear(): void {
    this.broadcasts.length = 0;
  }

  /**
   * Resolves once every `onSave` / `onDelete` queued so far has run and broadcast. Refreshes
   * waiting in `refreshLater()` are sent at once rather than after their delay, so a test sees
   * them without waiting. Writes of transactions still open are not waited for: they broadcast
   * when they commit.
   */
  async settled(): Promise<void> {
    await broadcastsSettled();
    await flushRefreshes();
    await broadcastsSettled();
  }

  /** Stops recording. */
  stop(): void {
    this.detach();
  }

  /** @internal Called for each broadcast. */
  record(broadcast: RecordedBroadcast): void {
    this.broadcasts.push(broadcast);
  }
}

/** A row's own `.stream` wins over its `name`, which may well be a column (a room's name). */
function streamNameOf(source: { name: string } | { stream: { name: string } }): string {
  const rowStream = (source as { stream?: { name?: unknown } }).stream;
  if (rowStream !== null && typeof rowStream === 'object' && typeof rowStream.name === 'string') {
    return rowStream.name;
  }
  return (source as { name: string }).name;
}
