import type { Debugger } from 'debug';
import { ErrorCodes, TurboExpressError, messageOf } from '../errors';
import type { BrokerErrorFn } from './broker';

/**
 * Loads a client library that only one broker needs (`ioredis`, `pg`) when that broker is built,
 * so that apps using another broker need not install it.
 */
export function loadPeer<T>(name: string, broker: string): T {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name) as T;
  } catch (error) {
    throw new TurboExpressError(
      ErrorCodes.INVALID_OPTION,
      `${broker} needs the "${name}" package: npm install ${name}`,
      {},
      error,
    );
  }
}

/** Checks a history bound: a whole number of at least `min`, or the fallback when absent. */
export function historyBound(
  value: unknown,
  broker: string,
  name: string,
  fallback: number,
  min = 0,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new TurboExpressError(
      ErrorCodes.INVALID_OPTION,
      `${broker}: ${name} must be a whole number of at least ${min}`,
    );
  }
  return value;
}

/** Waits `ms` milliseconds without keeping the process alive. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * Logs a broker's own failure and hands it to `onError` as a `TURBO_BROKER_FAILED`, never letting
 * a throwing handler break the broker's reading loop.
 */
export function reportBrokerError(
  onError: BrokerErrorFn,
  debug: Debugger,
  message: string,
  cause?: unknown,
): void {
  debug(message);
  try {
    onError(new TurboExpressError(ErrorCodes.BROKER_FAILED, message, {}, cause));
  } catch (error) {
    debug('onError threw: %s', messageOf(error));
  }
}
