import path from 'node:path';
import createDebug from 'debug';
import { currentContext } from './context';
import {
  ErrorCodes,
  TurboExpressError,
  wrapError,
  type ErrorCode,
  type ErrorContext,
  messageOf,
} from './errors';
import { MemoryBroker } from './broker/memory';
import type { Broker } from './broker/broker';
import { pickTarget } from './action-args';
import { LostBroadcasts } from './lost-broadcasts';
import { BroadcastRecorder } from './recorder';
import { Renderer, type Locals } from './render';
import {
  checkedTurboStreamTag,
  validateAttributes,
  takesContent,
  type TurboStreamAction,
  type TurboStreamAttributes,
} from './turbo-stream';

const debug = createDebug('turbo-express:broadcast');

/** Where the content of an action comes from: a partial and its locals, or ready HTML. */
export interface ContentOptions {
  /** A Pug partial in the views folder, such as `'chat/message'`. */
  template?: string;
  /** The locals for `template`. */
  locals?: Locals;
  /** Ready, trusted HTML, used as it is. Give this or `template`. */
  html?: string;
}

/**
 * Receives every broadcast that failed (a partial that threw, a broker that refused) and what
 * fails outside one: an `onSave` that threw or ran long, the broker, discovery.
 */
export type ErrorHandler = (error: TurboExpressError) => void;

/** Logs what `onError` hears with its code, stream and partial; the default `onError`. */
export const logBroadcastError: ErrorHandler = function logBroadcastError(error) {
  const where = [
    error.stream && `stream ${error.stream}`,
    error.template && `partial ${error.template}`,
  ]
    .filter(Boolean)
    .join(', ');
  console.error(`turbo-express: ${error.code}${where ? ` (${where})` : ''}: ${error.message}`);
};

/**
 * Turns an action on a stream into one message on the broker: renders the partial once, wraps it
 * in a `<turbo-stream>` element and publishes it. One broadcaster is active in a process; the
 * middleware installs its own when it is created.
 */
export class Broadcaster {
  readonly renderer: Renderer;
  readonly broker: Broker;
  readonly onError: ErrorHandler;
  /** Streams whose message the broker refused: each gets a refresh once the broker is back. */
  readonly lost: LostBroadcasts;

  constructor(renderer: Renderer, broker: Broker, onError: ErrorHandler) {
    this.renderer = renderer;
    this.broker = broker;
    this.onError = onError;
    this.lost = new LostBroadcasts(broker);
  }

  /**
   * Sends one action to every subscriber of `stream`. Bad arguments throw; a failing partial or
   * broker is handed to `onError` and the returned promise still resolves, so a broadcast never
   * fails the write that caused it. Resolves to whether the message was published. When the
   * broker refused it, the stream gets a `refresh` once the broker takes messages again.
   */
  async broadcast(
    stream: string,
    action: TurboStreamAction,
    attributes: TurboStreamAttributes,
    content: ContentOptions = {},
  ): Promise<boolean> {
    validateAttributes(action, attributes);
    validateContentFor(action, content);
    if (currentContext().suppressed) return false;

    let element: string;
    let html = '';
    try {
      if (content.template !== undefined) {
        html = this.renderer.render(content.template, content.locals ?? {});
      } else if (content.html !== undefined) {
        html = content.html;
      }
      element = checkedTurboStreamTag(action, attributes, html);
    } catch (error) {
      this.report(error, ErrorCodes.RENDER_FAILED, { stream, action, template: content.template });
      return false;
    }

    if (recorders.size > 0) {
      const target = pickTarget(attributes);
      notifyRecorders({ stream, action, ...target, template: content.template, html, element });
    }
    try {
      await this.broker.publish(stream, element);
      debug('%s %s', action, stream);
      return true;
    } catch (error) {
      this.report(error, ErrorCodes.BROKER_FAILED, { stream, action, template: content.template });
      this.lost.add(stream);
      return false;
    }
  }

  /** Hands an error to `onError`, never letting the handler itself throw into the caller. */
  report(error: unknown, code: ErrorCode, context: ErrorContext): void {
    try {
      this.onError(wrapError(error, code, context));
    } catch (handlerError) {
      debug('onError threw: %s', messageOf(handlerError));
    }
  }
}

/** Checks that an action has content exactly when it takes some. */
export function validateContentFor(action: TurboStreamAction, content: ContentOptions): void {
  const hasTemplate = content.template !== undefined;
  const hasHtml = content.html !== undefined;
  if (!takesContent(action)) {
    if (hasTemplate || hasHtml) {
      throw new TurboExpressError(
        ErrorCodes.INVALID_OPTION,
        `The ${action} action sends no content: drop the template or html`,
        { action },
      );
    }
    return;
  }
  if (hasTemplate === hasHtml) {
    throw new TurboExpressError(
      ErrorCodes.INVALID_OPTION,
      `The ${action} action needs its content as exactly one of a partial name or { html }`,
      { action },
    );
  }
  if (hasTemplate && typeof content.template !== 'string') {
    throw new TurboExpressError(ErrorCodes.INVALID_OPTION, 'A partial name must be a string', {
      action,
    });
  }
  if (hasHtml && typeof content.html !== 'string') {
    throw new TurboExpressError(ErrorCodes.INVALID_OPTION, 'html must be a string', { action });
  }
}

const recorders = new Set<BroadcastRecorder>();

function notifyRecorders(broadcast: Parameters<BroadcastRecorder['record']>[0]): void {
  for (const recorder of recorders) recorder.record(broadcast);
}

/** Options of {@link recordBroadcasts}. */
export interface RecordOptions {
  /**
   * The folder partials are read from while no turboStreams() is open, as in a unit test. Defaults
   * to `views` in the working directory; an open middleware's own `views` always wins.
   */
  views?: string | undefined;
}

/**
 * Starts recording every broadcast made in this process, for an application's tests. Recording
 * needs no server; broadcasts still go to the broker as usual.
 */
export function recordBroadcasts(options: RecordOptions = {}): BroadcastRecorder {
  if (options.views !== undefined) {
    void fallback?.broker.close();
    fallback = defaultBroadcaster(options.views);
  }
  const recorder: BroadcastRecorder = new BroadcastRecorder(() => recorders.delete(recorder));
  recorders.add(recorder);
  return recorder;
}

function defaultBroadcaster(views = 'views'): Broadcaster {
  const broker = new MemoryBroker();
  broker.start(() => {});
  return new Broadcaster(new Renderer(path.resolve(views)), broker, logBroadcastError);
}

/** The broadcasters of the middlewares not yet closed, oldest first. */
const live: Broadcaster[] = [];
let fallback: Broadcaster | null = null;

/** The broadcaster streams publish through: the newest open middleware's, or a default one. */
export function activeBroadcaster(): Broadcaster {
  if (live.length > 0) return live[live.length - 1];
  fallback ??= defaultBroadcaster();
  return fallback;
}

/**
 * Makes `broadcaster` the one streams publish through, until it is uninstalled. A process has one
 * set of streams, so a second open middleware takes over from the first, which is told loudly.
 */
export function installBroadcaster(broadcaster: Broadcaster): void {
  if (live.length > 0) {
    console.warn(
      'turbo-express: a second turboStreams() was created while another is open; ' +
        'broadcasts now go only through the newest one, until it is closed. ' +
        'Mount one turboStreams() per process and share it between routers.',
    );
  }
  live.push(broadcaster);
}

/** Stops publishing through `broadcaster`; the middleware opened before it takes over again. */
export function uninstallBroadcaster(broadcaster: Broadcaster): void {
  const at = live.indexOf(broadcaster);
  if (at !== -1) live.splice(at, 1);
}
