import type { Request } from 'express';
import {
  refreshAttributes,
  removeAttributes,
  splitArgs,
  type ActionOptions,
  type ActionWithContent,
  type ContentArgs,
  type RefreshOptions,
} from './action-args';
import { activeBroadcaster } from './broadcaster';
import { refreshLater, type RefreshLaterOptions } from './refresh-debounce';
import type { Locals } from './render';
import type { TargetOptions, TurboStreamAction } from './turbo-stream';

/** The constructor side of a stream class, as the registry and middleware see it. */
export interface StreamClass<S extends Stream = Stream> {
  new (...args: any[]): S;
  /** The stream name's first part. Defaults to the class name. */
  streamName?: string;
  /** Builds the stream a name's key stands for, or `null` if it stands for nothing. */
  resolve(key: string | undefined): Promise<S | null>;
  /** The name the stream's names start with. */
  readonly baseName: string;
}

const SEPARATOR = ':';

/**
 * A named channel pages subscribe to and code broadcasts on. Subclass it for streams that are not
 * one row (a lobby, a dashboard); {@link ModelStream} covers rows. A stream's name is
 * `<streamName>` or `<streamName>:<key>`, and its actions publish to every subscriber of that
 * name.
 *
 * @example
 * class LobbyStream extends Stream {
 *   userPassesTest(user?: User) { return user !== undefined }
 * }
 * await new LobbyStream().append('lobby/player', { player }, { target: 'players' })
 * // sends, to every page subscribed to "LobbyStream":
 * // <turbo-stream action="append" target="players"><template>...</template></turbo-stream>
 */
export class Stream {
  /** The stream name's first part. Defaults to the class name. Must not hold ":". */
  static streamName?: string;

  /** The part of the name after ":", telling apart the streams of one class. */
  readonly key: string | undefined;

  /** @param key Tells apart the streams of one class, like a team id on a dashboard. */
  constructor(key?: string | number) {
    this.key = key === undefined ? undefined : String(key);
  }

  /** The name the stream's names start with: `streamName`, or the class name. */
  static get baseName(): string {
    return this.streamName ?? this.name;
  }

  /** Builds the stream a name's key stands for. Stream classes take any key. */
  static async resolve(key: string | undefined): Promise<Stream | null> {
    return new this(key);
  }

  /** The full stream name, such as `LobbyStream` or `DashboardStream:team-4`. */
  get name(): string {
    const base = (this.constructor as StreamClass).baseName;
    return this.key === undefined ? base : `${base}${SEPARATOR}${this.key}`;
  }

  /**
   * Decides whether `user` may subscribe to this stream; sync or async. Checked when a page
   * connects and again on open connections if `recheckInterval` is set. Defaults to allowing.
   */
  userPassesTest(user: unknown, req: Request): boolean | Promise<boolean> {
    return true;
  }

  /**
   * Appends content to the children of the target.
   * Sends `<turbo-stream action="append" target="..."><template>HTML</template></turbo-stream>`.
   */
  append(template: string, locals: Locals, options: ActionOptions): Promise<boolean>;
  append(action: ActionWithContent): Promise<boolean>;
  append(...args: ContentArgs): Promise<boolean> {
    return this.sendWithContent('append', args);
  }

  /** Prepends content to the children of the target. */
  prepend(template: string, locals: Locals, options: ActionOptions): Promise<boolean>;
  prepend(action: ActionWithContent): Promise<boolean>;
  prepend(...args: ContentArgs): Promise<boolean> {
    return this.sendWithContent('prepend', args);
  }

  /** Replaces the target element itself; with `method: 'morph'`, morphs it. */
  replace(template: string, locals: Locals, options: ActionOptions): Promise<boolean>;
  replace(action: ActionWithContent): Promise<boolean>;
  replace(...args: ContentArgs): Promise<boolean> {
    return this.sendWithContent('replace', args);
  }

  /** Replaces the children of the target; with `method: 'morph'`, morphs them. */
  update(template: string, locals: Locals, options: ActionOptions): Promise<boolean>;
  update(action: ActionWithContent): Promise<boolean>;
  update(...args: ContentArgs): Promise<boolean> {
    return this.sendWithContent('update', args);
  }

  /** Inserts content before the target element. */
  before(template: string, locals: Locals, options: ActionOptions): Promise<boolean>;
  before(action: ActionWithContent): Promise<boolean>;
  before(...args: ContentArgs): Promise<boolean> {
    return this.sendWithContent('before', args);
  }

  /** Inserts content after the target element. */
  after(template: string, locals: Locals, options: ActionOptions): Promise<boolean>;
  after(action: ActionWithContent): Promise<boolean>;
  after(...args: ContentArgs): Promise<boolean> {
    return this.sendWithContent('after', args);
  }

  /**
   * Removes the target. On message 7's row stream or its room's, `remove({ target: 'message-7' })`
   * sends `<turbo-stream action="remove" target="message-7"></turbo-stream>`.
   */
  async remove(options: TargetOptions): Promise<boolean> {
    return activeBroadcaster().broadcast(this.name, 'remove', removeAttributes(options));
  }

  /**
   * Asks every subscribed page to reload itself, except the page whose request caused it.
   * Sends `<turbo-stream action="refresh" request-id="..."></turbo-stream>`.
   */
  async refresh(options: RefreshOptions = {}): Promise<boolean> {
    return activeBroadcaster().broadcast(this.name, 'refresh', refreshAttributes(options));
  }

  /**
   * Coalesces a burst of changes into one refresh: schedules a `refresh` that waits `delay` ms
   * (300 by default) for more calls on this stream by the same request, then sends once. Inside a
   * request with `X-Turbo-Request-Id: abc`, a burst of calls sends exactly
   * `<turbo-stream action="refresh" request-id="abc"></turbo-stream>`, which the page that made the
   * changes ignores. Returns at once; nothing is scheduled inside `withoutBroadcasts()`.
   */
  refreshLater(options: RefreshLaterOptions = {}): void {
    refreshLater(this, options);
  }

  /** Sends any action; the named methods are shorthands for it. */
  broadcast(
    action: TurboStreamAction,
    options: ActionWithContent & RefreshOptions,
  ): Promise<boolean> {
    if (action === 'refresh') return this.refresh(options);
    if (action === 'remove') return this.remove(options);
    return this.sendWithContent(action, [options]);
  }

  private async sendWithContent(action: TurboStreamAction, args: ContentArgs): Promise<boolean> {
    const { content, attributes } = splitArgs(action, args);
    return activeBroadcaster().broadcast(this.name, action, attributes, content);
  }
}

/** Splits a stream name into its base and key, as `Stream.name` built it. */
export function splitStreamName(name: string): { base: string; key: string | undefined } {
  const at = name.indexOf(SEPARATOR);
  return at === -1
    ? { base: name, key: undefined }
    : { base: name.slice(0, at), key: name.slice(at + 1) };
}
