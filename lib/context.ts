import { AsyncLocalStorage } from 'node:async_hooks';
import type { Request } from 'express';

/** What turbo-express knows about the code that is running: the request, if any. */
export interface BroadcastContext {
  /** The `X-Turbo-Request-Id` of the request being handled, if it sent one. */
  requestId?: string;
  /** The request being handled, if any. */
  request?: Request;
  /** True inside `withoutBroadcasts()`: nothing is sent. */
  suppressed?: boolean;
}

const storage = new AsyncLocalStorage<BroadcastContext>();

/** The context of the running code; an empty object outside any request. */
export function currentContext(): BroadcastContext {
  return storage.getStore() ?? {};
}

/** Runs `fn` with `context` merged over the current one. */
export function runInContext<T>(context: BroadcastContext, fn: () => T): T {
  return storage.run({ ...currentContext(), ...context }, fn);
}

/**
 * Runs `fn` with broadcasting turned off for it and everything it awaits, including broadcasts
 * deferred to a transaction it opens. Other requests running at the same time keep broadcasting.
 * Use it for imports, seeds and migrations.
 *
 * @example
 * await withoutBroadcasts(() => Message.bulkCreate(rows))
 */
export function withoutBroadcasts<T>(fn: () => T): T {
  return runInContext({ suppressed: true }, fn);
}

/** The `X-Turbo-Request-Id` of the request being handled, if any. */
export function currentRequestId(): string | undefined {
  return currentContext().requestId;
}
