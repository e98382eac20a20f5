import createDebug from 'debug';
import {
  refreshAttributes,
  refuseUnknownKeys,
  REFRESH_KEYS,
  type RefreshOptions,
} from './action-args';
import { activeBroadcaster } from './broadcaster';
import { currentContext, runWithContext } from './context';
import { ErrorCodes, TurboExpressError } from './errors';
import { validateAttributes } from './turbo-stream';

const debug = createDebug('turbo-express:refresh');

/** Options of `stream.refreshLater()`. */
export interface RefreshLaterOptions extends RefreshOptions {
  /**
   * How long to wait, in milliseconds, for more changes before sending the one refresh. Every
   * new call within the wait starts it again, but the refresh never waits longer than five
   * times `delay` after the first call of a burst. Defaults to 300.
   */
  delay?: number;
}

/** The default wait of `refreshLater()`, in milliseconds. */
export const DEFAULT_REFRESH_DELAY = 300;

const MAX_WAIT_FACTOR = 5;

/** What a stream needs to be refreshed later: its name now, its `refresh()` when the time comes. */
interface Refreshable {
  readonly name: string;
  refresh(options?: RefreshOptions): Promise<boolean>;
}

interface PendingRefresh {
  stream: Refreshable;
  name: string;
  /** The refresh's attributes, its request id included. */
  options: RefreshOptions;
  deadline: number;
  timer: NodeJS.Timeout;
}

/** Refreshes waiting to be sent, by stream name and request id. */
const pending = new Map<string, PendingRefresh>();

/**
 * Schedules one `refresh` on `stream`, merging it with the others asked for the same stream by
 * the same request within `delay`. The refresh carries the request id of the code that asked
 * (the `X-Turbo-Request-Id` of the request being handled), so the page that made the changes
 * does not refresh itself; changes from different requests make one refresh each. Nothing is
 * scheduled inside `withoutBroadcasts()`. The timer never keeps the process alive.
 */
export function refreshLater(stream: Refreshable, given: RefreshLaterOptions = {}): void {
  const options = given ?? {};
  refuseUnknownKeys('refreshLater', options, REFRESH_KEYS, ['delay']);
  const { delay = DEFAULT_REFRESH_DELAY, ...refreshOptions } = options;
  if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
    throw new TurboExpressError(
      ErrorCodes.INVALID_OPTION,
      `refreshLater() takes a delay in milliseconds as a finite number >= 0, not ${String(delay)}`,
      { action: 'refresh' },
    );
  }
  // Checked even when broadcasts are suppressed: a call fails the same way either way.
  const attributes = refreshAttributes(refreshOptions);
  validateAttributes('refresh', attributes);
  if (currentContext().suppressed) return;
  const { requestId } = attributes;

  const name = stream.name;
  // Request ids may be any text, the empty one included: the key tells every one from none.
  const key = JSON.stringify([name, requestId ?? null]);
  const now = Date.now();
  const earlier = pending.get(key);
  const deadline = earlier?.deadline ?? now + delay * MAX_WAIT_FACTOR;
  if (earlier !== undefined) clearTimeout(earlier.timer);

  const wait = Math.max(0, Math.min(delay, deadline - now));
  const timer = setTimeout(function sendDebouncedRefresh() {
    void sendPending(key);
  }, wait);
  timer.unref();
  pending.set(key, { stream, name, options: attributes, deadline, timer });
  debug('%s refresh on %s in %d ms', earlier ? 'pushed back' : 'scheduled', name, wait);
}

/**
 * Sends every refresh still waiting at once and clears their timers. The middleware's `close()`
 * calls it, so no timer outlives the app and no refresh asked for is lost.
 */
export async function flushRefreshes(): Promise<void> {
  await Promise.all([...pending.keys()].map(sendPending));
}

/** The number of refreshes waiting to be sent. */
export function pendingRefreshCount(): number {
  return pending.size;
}

async function sendPending(key: string): Promise<void> {
  const entry = pending.get(key);
  if (entry === undefined) return;
  pending.delete(key);
  clearTimeout(entry.timer);

  try {
    // The timer inherits the context of the first caller; the refresh must carry only its own.
    const { requestId } = entry.options;
    await runWithContext({ requestId }, () => entry.stream.refresh(entry.options));
  } catch (error) {
    activeBroadcaster().report(error, ErrorCodes.INVALID_OPTION, {
      stream: entry.name,
      action: 'refresh',
    });
  }
}
