import type { Request, Response } from 'express';
import {
  refreshAttributes,
  removeAttributes,
  splitArgs,
  type ActionOptions,
  type ActionWithContent,
  type ContentArgs,
  type RefreshOptions,
} from './action-args';
import { validateContentFor } from './broadcaster';
import type { Locals, Renderer } from './render';
import {
  turboStreamTag,
  type TargetOptions,
  type TurboStreamAction,
  type TurboStreamAttributes,
} from './turbo-stream';

/** The media type of Turbo Stream responses to form submissions. */
export const TURBO_STREAM_MIME = 'text/vnd.turbo-stream.html';

/** Tells whether the request accepts a Turbo Stream response, as Turbo's form submissions do. */
export function acceptsTurboStream(req: Request): boolean {
  const accept = req.headers.accept;
  return typeof accept === 'string' && accept.includes(TURBO_STREAM_MIME);
}

/**
 * Builds a Turbo Stream answer to one request, with the same actions as a stream. Each action
 * renders its partial at once (with `res.locals` under the given locals), so a failing partial
 * throws where it was called; `send()` writes them all with the Turbo Stream content type.
 *
 * @example
 * app.post('/rooms/:id/messages', async (req, res) => {
 *   const message = await Message.create({ ... })
 *   if (acceptsTurboStream(req)) {
 *     return res.turboStream.update('chat/form', { room }, { target: 'new_message' }).send()
 *   }
 *   res.redirect(`/rooms/${room.id}`)
 * })
 */
export class TurboStreamResponse {
  private readonly res: Response;
  private readonly renderer: Renderer;
  private readonly elements: string[] = [];

  /** @internal Reached as `res.turboStream`. */
  constructor(res: Response, renderer: Renderer) {
    this.res = res;
    this.renderer = renderer;
  }

  /** Adds an append action. */
  append(template: string, locals: Locals, options: ActionOptions): this;
  append(action: ActionWithContent): this;
  append(...args: ContentArgs): this {
    return this.addWithContent('append', args);
  }

  /** Adds a prepend action. */
  prepend(template: string, locals: Locals, options: ActionOptions): this;
  prepend(action: ActionWithContent): this;
  prepend(...args: ContentArgs): this {
    return this.addWithContent('prepend', args);
  }

  /** Adds a replace action; `method: 'morph'` morphs. */
  replace(template: string, locals: Locals, options: ActionOptions): this;
  replace(action: ActionWithContent): this;
  replace(...args: ContentArgs): this {
    return this.addWithContent('replace', args);
  }

  /** Adds an update action; `method: 'morph'` morphs. */
  update(template: string, locals: Locals, options: ActionOptions): this;
  update(action: ActionWithContent): this;
  update(...args: ContentArgs): this {
    return this.addWithContent('update', args);
  }

  /** Adds a before action. */
  before(template: string, locals: Locals, options: ActionOptions): this;
  before(action: ActionWithContent): this;
  before(...args: ContentArgs): this {
    return this.addWithContent('before', args);
  }

  /** Adds an after action. */
  after(template: string, locals: Locals, options: ActionOptions): this;
  after(action: ActionWithContent): this;
  after(...args: ContentArgs): this {
    return this.addWithContent('after', args);
  }

  /** Adds a remove action: `<turbo-stream action="remove" target="..."></turbo-stream>`. */
  remove(options: TargetOptions): this {
    return this.add('remove', removeAttributes(options), '');
  }

  /** Adds a refresh action. */
  refresh(options: RefreshOptions = {}): this {
    return this.add('refresh', refreshAttributes(options), '');
  }

  /** The `<turbo-stream>` elements added so far, joined. */
  toString(): string {
    return this.elements.join('\n');
  }

  /** Sends the actions with `Content-Type: text/vnd.turbo-stream.html; charset=utf-8`. */
  send(): void {
    this.res.type(`${TURBO_STREAM_MIME}; charset=utf-8`).send(this.toString());
  }

  private addWithContent(action: TurboStreamAction, args: ContentArgs): this {
    const { content, attributes } = splitArgs(action, args);
    validateContentFor(action, content);
    const html =
      content.template !== undefined
        ? this.renderer.render(content.template, { ...this.res.locals, ...content.locals })
        : (content.html ?? '');
    return this.add(action, attributes, html);
  }

  private add(action: TurboStreamAction, attributes: TurboStreamAttributes, html: string): this {
    this.elements.push(turboStreamTag(action, attributes, html));
    return this;
  }
}
