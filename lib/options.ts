import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Request } from 'express';
import { DEFAULT_HISTORY, type Broker, type HistoryOptions } from './broker/broker';
import type { ErrorHandler } from './broadcaster';
import { keptDevelopmentSecret, type KeptSecret } from './development-secret';
import { ErrorCodes, messageOf, TurboExpressError } from './errors';

/** Options of `turboStreams()`. `null` turns a feature off; `undefined` takes its default. */
export interface TurboStreamsOptions {
  /**
   * The secret stream names are signed with (HMAC-SHA256). Required when NODE_ENV is production;
   * elsewhere one is made and kept in node_modules/.cache/turbo-express (or, where it cannot be,
   * made for this process), and a warning is printed. Every process of an app must use the same
   * secret.
   */
  secret?: string | undefined;
  /** Where the SSE endpoints are mounted. Defaults to `'/turbo-streams'`. */
  path?: string | undefined;
  /**
   * The folder partial names are relative to. Defaults to the Express app's own `views` setting
   * (its first folder if a list), read at the first request; before it, and when the app has
   * none, `'views'` in the working directory, Express's own default.
   */
  views?: string | undefined;
  /** Delivers messages between processes. Defaults to an in-process `MemoryBroker`. */
  broker?: Broker | undefined;
  /**
   * How much history the default broker keeps per stream for replay: `size` messages, none older
   * than `maxAge` milliseconds. A reconnect that needs more than is kept gets one `refresh`
   * action. `{ size: 0 }` keeps none. Defaults to 100 messages, 300,000 ms (5 minutes).
   */
  history?: HistoryOptions | undefined;
  /** Resolves the user of a request, sync or async. Defaults to `req.user`. */
  currentUser?: ((req: Request) => unknown) | undefined;
  /**
   * Receives every failed broadcast, and what fails outside one (the broker, an `onSave` that
   * throws or runs past `hookTimeout`, a streams file discovery cannot register). Defaults to
   * logging each with its code, stream and partial.
   */
  onError?: ErrorHandler | undefined;
  /**
   * Milliseconds between heartbeats on open streams: an SSE comment line (`:`), which clients
   * ignore, so that proxies and load balancers do not close an idle stream. `null` for none; 0 is
   * refused. Defaults to 15,000.
   */
  heartbeat?: number | null | undefined;
  /** The reconnection delay, in milliseconds, sent as `retry:`. Defaults to 2,000. */
  retry?: number | undefined;
  /**
   * Milliseconds between checks of `userPassesTest` on open connections, closing those whose user
   * no longer passes (or whose `currentUser` now throws); `null` for none; 0 is refused. Defaults
   * to 60,000.
   */
  recheckInterval?: number | null | undefined;
  /**
   * Milliseconds a signed stream name stays valid; a page older than this gets 403 when its stream
   * reconnects, and must be reloaded. `null` for ever; 0 is refused. Defaults to `null`.
   */
  tokenTtl?: number | null | undefined;
  /**
   * Bytes that may wait for one slow client, in its queue and in its socket's buffer, before it is
   * dropped (it reconnects and replays). A replay that would not fit is answered with one
   * `refresh` instead. Keep it well above the largest message: a client still reading one
   * message bigger than this when the next arrives is dropped. Defaults to 1,048,576 (1 MiB).
   */
  maxQueuedBytes?: number | undefined;
  /**
   * Milliseconds a client's socket may stay congested (refusing writes, not drained) before the
   * client is dropped; it reconnects and replays, or gets one `refresh`. Checked whenever
   * something is written to it, heartbeats included, so a drop comes at most one heartbeat late.
   * `null` never drops for slowness alone (`maxQueuedBytes` still applies); 0 is refused.
   * Defaults to 30,000.
   */
  stallTimeout?: number | null | undefined;
  /**
   * Milliseconds the access check of a subscription may take: resolving its stream (a `findByPk`
   * for a ModelStream), `currentUser` and `userPassesTest`. A check that takes longer fails: the
   * subscription gets 403, an open stream being re-checked is ended. It is also how long a
   * subscription waits for a broker that is still connecting (Redis or PostgreSQL down at boot)
   * before being told to reconnect later. `null` waits for ever; 0 is refused. Defaults to 10,000.
   */
  checkTimeout?: number | null | undefined;
  /**
   * Folders searched for `streams.ts` / `streams.js` files whose exported stream classes are
   * registered; `null` for none. Defaults to the folder of the entry script (the one above it
   * when that folder is an app's `bin`, next to its package.json, as in `bin/www`), unless it
   * lies in node_modules.
   */
  discover?: string | string[] | null | undefined;
  /**
   * Milliseconds one `onSave` / `onDelete` may hold back the broadcasts of later writes, which
   * wait for it to keep commit order. Past it they go on without it, and `onError` gets a
   * `TURBO_HOOK_TIMEOUT`; the slow hook still finishes. Hooks that hang one after another each
   * delay later broadcasts by this much. `null` waits for ever. Defaults to 5,000.
   */
  hookTimeout?: number | null | undefined;
}

/** The options after defaults are applied and checked. */
export interface ResolvedOptions {
  secret: string;
  path: string;
  /** Null when not given: the app's `views` setting is used. */
  views: string | null;
  broker: Broker | undefined;
  history: HistoryOptions;
  currentUser: (req: Request) => unknown;
  onError: ErrorHandler | undefined;
  heartbeat: number | null;
  retry: number;
  recheckInterval: number | null;
  tokenTtl: number | null;
  maxQueuedBytes: number;
  stallTimeout: number | null;
  checkTimeout: number | null;
  discover: string[];
  hookTimeout: number | null;
}

/** The defaults, applied once when the middleware is built. */
export const DEFAULTS = Object.freeze({
  path: '/turbo-streams',
  heartbeat: 15_000,
  retry: 2_000,
  recheckInterval: 60_000,
  tokenTtl: null,
  maxQueuedBytes: 1024 * 1024,
  stallTimeout: 30_000,
  checkTimeout: 10_000,
  hookTimeout: 5_000,
});

/** The secret used when none is given outside production, found or made once per process. */
let developmentSecret: string | undefined;

/** Applies defaults and checks every option, throwing a TurboExpressError naming the bad one. */
export function resolveOptions(options: TurboStreamsOptions = {}): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw invalid('turboStreams() takes an options object');
  }
  return {
    secret: resolveSecret(options.secret),
    path: resolvePath(options.path),
    views: optionalPath(options.views),
    broker: options.broker,
    history: resolveHistory(options.history),
    currentUser: optionalFunction(options.currentUser, 'currentUser') ?? defaultCurrentUser,
    onError: optionalFunction(options.onError, 'onError'),
    heartbeat: period(options.heartbeat, 'heartbeat', DEFAULTS.heartbeat),
    retry: count(options.retry, 'retry', DEFAULTS.retry, 0),
    recheckInterval: period(options.recheckInterval, 'recheckInterval', DEFAULTS.recheckInterval),
    tokenTtl: period(options.tokenTtl, 'tokenTtl', DEFAULTS.tokenTtl),
    maxQueuedBytes: count(options.maxQueuedBytes, 'maxQueuedBytes', DEFAULTS.maxQueuedBytes, 1),
    stallTimeout: period(options.stallTimeout, 'stallTimeout', DEFAULTS.stallTimeout),
    checkTimeout: period(options.checkTimeout, 'checkTimeout', DEFAULTS.checkTimeout),
    discover: resolveDiscover(options.discover),
    hookTimeout: period(options.hookTimeout, 'hookTimeout', DEFAULTS.hookTimeout),
  };
}

function defaultCurrentUser(req: Request): unknown {
  return (req as Request & { user?: unknown }).user;
}

function resolveSecret(secret: unknown): string {
  if (typeof secret === 'string' && secret.length > 0) return secret;
  if (secret !== undefined) throw invalid('"secret" must be a non-empty string');
  if (process.env.NODE_ENV === 'production') {
    throw new TurboExpressError(
      ErrorCodes.SECRET_REQUIRED,
      'A secret is required to sign stream names in production: pass turboStreams({ secret }), ' +
        'for example from process.env.TURBO_SECRET',
    );
  }
  if (developmentSecret === undefined) developmentSecret = makeDevelopmentSecret();
  return developmentSecret;
}

/** A secret kept beside the app (see `keptDevelopmentSecret`), or one for this process only. */
function makeDevelopmentSecret(): string {
  let kept: KeptSecret;
  try {
    kept = keptDevelopmentSecret(process.cwd());
  } catch (error) {
    // process.cwd() throws when the working folder was deleted.
    kept = { secret: null, reason: messageOf(error) };
  }
  if (kept.secret !== null) {
    console.warn(
      'turbo-express: no "secret" given to turboStreams(); stream names are signed with a ' +
        `development secret kept in ${kept.file}. Set one in production, and the same one in ` +
        'every process of the app.',
    );
    return kept.secret;
  }
  console.warn(
    'turbo-express: no "secret" given to turboStreams(), and no development secret could be ' +
      `kept (${kept.reason}); stream names are signed with a random secret that lasts as long ` +
      'as this process, so pages left open across a restart get 403 and stop updating until ' +
      'reloaded. Set one before running more than one process or in production.',
  );
  return randomBytes(32).toString('hex');
}

function resolvePath(value: unknown): string {
  const given = optionalString(value, 'path') ?? DEFAULTS.path;
  if (!given.startsWith('/')) throw invalid('"path" must start with "/"');
  return given.replace(/\/+$/, '') || '/';
}

function optionalPath(value: unknown): string | null {
  const given = optionalString(value, 'views');
  return given === undefined ? null : path.resolve(given);
}

/**
 * The folder discovery searches by default: the entry script's, or its parent when the script
 * sits in the `bin/` of an app, next to its package.json (Express's generated `bin/www`, which
 * loads `../app`). None for a script in node_modules (a test runner, a CLI).
 */
export function appFolderOf(entryScript: string | undefined): string | null {
  if (entryScript === undefined || entryScript.split(path.sep).includes('node_modules')) {
    return null;
  }
  const folder = path.dirname(path.resolve(entryScript));
  const parent = path.dirname(folder);
  // Only an app's own bin/: a ~/bin script must not make discovery search a whole home folder.
  const isAppBin =
    path.basename(folder) === 'bin' && fs.existsSync(path.join(parent, 'package.json'));
  return isAppBin ? parent : folder;
}

function resolveDiscover(value: unknown): string[] {
  if (value === null) return [];
  if (value === undefined) {
    const folder = appFolderOf(process.argv[1]);
    return folder === null ? [] : [folder];
  }
  const folders = Array.isArray(value) ? value : [value];
  for (const folder of folders) {
    if (typeof folder !== 'string')
      throw invalid('"discover" must be a folder, a list of folders or null');
  }
  return folders.map((folder: string) => path.resolve(folder));
}

/** The longest delay setInterval honours; a longer one fires after 1 ms instead. */
const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * A period in milliseconds, or `null` for off. 0 is refused rather than read as "off": passed on
 * to setInterval it would fire on every turn of the event loop.
 */
function period(value: unknown, name: string, fallback: number | null): number | null {
  if (value === undefined) return fallback;
  if (value === null) return null;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value <= 0 ||
    value > MAX_TIMER_DELAY
  ) {
    throw invalid(
      `"${name}" must be a number of milliseconds from 1 to ${MAX_TIMER_DELAY}, ` +
        `or null to turn it off; got ${describeGiven(value)}`,
    );
  }
  return value;
}

/** A whole number of at least `min`. */
function count(value: unknown, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(
      `"${name}" must be a whole number of at least ${min}; got ${describeGiven(value)}`,
    );
  }
  return value;
}

function resolveHistory(value: unknown): HistoryOptions {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object') {
    throw invalid('"history" must be an object such as { size: 100, maxAge: 300000 }');
  }
  const { size, maxAge } = value as HistoryOptions;
  return {
    size: count(size, 'history.size', DEFAULT_HISTORY.size, 0),
    maxAge: count(maxAge, 'history.maxAge', DEFAULT_HISTORY.maxAge, 0),
  };
}

/** A number as it was given, anything else by its type. */
function describeGiven(value: unknown): string {
  return typeof value === 'number' ? String(value) : typeof value;
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`"${name}" must be a string`);
  return value;
}

function optionalFunction<F>(value: F | undefined, name: string): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalid(`"${name}" must be a function`);
  return value;
}

function invalid(message: string): TurboExpressError {
  return new TurboExpressError(ErrorCodes.INVALID_OPTION, `turboStreams(): ${message}`);
}
