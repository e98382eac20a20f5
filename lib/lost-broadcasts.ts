import createDebug from 'debug';
import type { Broker } from './broker/broker';
import { turboStreamTag } from './turbo-stream';
import { messageOf } from './errors';

const debug = createDebug('turbo-express:lost');

const REFRESH = turboStreamTag('refresh', {});

/** The most streams remembered at once; past it the oldest are forgotten (and logged). */
const MAX_STREAMS = 10_000;
const FIRST_RETRY = 500;
const LAST_RETRY = 10_000;

/**
 * Remembers the streams whose publish failed (the broker was unreachable) and, once the broker
 * takes messages again, publishes one `refresh` on each. A page that stayed open through an
 * outage therefore reloads what it missed instead of silently showing stale rows.
 */
export class LostBroadcasts {
  private readonly broker: Broker;
  /** Streams waiting for a refresh, least recently lost first, with their count of losses. */
  private readonly streams = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private delay = FIRST_RETRY;
  private isRetrying = false;

  constructor(broker: Broker) {
    this.broker = broker;
    this.retry = this.retry.bind(this);
  }

  /** The number of streams waiting for their refresh. */
  get size(): number {
    return this.streams.size;
  }

  /** Notes that a message for `stream` was lost, and schedules a refresh. */
  add(stream: string): void {
    const losses = (this.streams.get(stream) ?? 0) + 1;
    this.streams.delete(stream);
    this.streams.set(stream, losses);
    if (this.streams.size > MAX_STREAMS) {
      const oldest = this.streams.keys().next().value as string;
      this.streams.delete(oldest);
      debug('forgot %s: too many streams wait for a refresh', oldest);
    }
    this.schedule();
  }

  /** Tries to publish every waiting refresh now; resolves once the attempt is over. */
  async retry(): Promise<void> {
    this.timer = null;
    if (this.isRetrying) return;
    this.isRetrying = true;
    try {
      for (const [stream, losses] of [...this.streams]) {
        await this.broker.publish(stream, REFRESH);
        // A loss noted while the publish was under way may come after the page acted on this
        // refresh: the stream then stays, for one more.
        if (this.streams.get(stream) === losses) this.streams.delete(stream);
        debug('refresh sent to %s after a lost broadcast', stream);
      }
      this.delay = FIRST_RETRY;
    } catch (error) {
      debug('broker still refuses: %s', messageOf(error));
      this.delay = Math.min(this.delay * 2, LAST_RETRY);
    } finally {
      this.isRetrying = false;
    }
    if (this.streams.size > 0) this.schedule();
  }

  /** Stops retrying; what is still waiting is dropped. */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.streams.clear();
  }

  private schedule(): void {
    if (this.timer !== null || this.isRetrying) return;
    this.timer = setTimeout(this.retry, this.delay);
    this.timer.unref();
  }
}
