import { AsyncLocalStorage } from 'node:async_hooks';

/** What turbo-express carries along with the code that is running. */
export interface BroadcastContext {
  /** The `X-Turbo-Request-Id` of the request being handled, if it sent one. */
  requestId?: string;
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
  return runWithContext({ ...storage.getStore(), ...context }, fn);
}

/**
 * Runs `fn` in exactly `context`, whatever the context of the code that calls it. With nothing to
 * carry and no context around, `fn` simply runs: AsyncLocalStorage is only used once some code
 * has a request id or turns broadcasts off, because on Node 20 using it makes every promise of
 * the process pay for async_hooks (a tenth of a Sequelize `create()`, measured).
 */
export function runWithContext<T>(context: BroadcastContext, fn: () => T): T {
  const isEmpty = context.requestId === undefined && context.suppressed !== true;
  if (isEmpty && storage.getStore() === undefined) return fn();
  return storage.run(context, fn);
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
