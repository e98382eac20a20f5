import fs from 'node:fs';
import path from 'node:path';
import pug from 'pug';
import createDebug from 'debug';
import { ErrorCodes, TurboExpressError, messageOf } from './errors';

const debug = createDebug('turbo-express:render');

/** The most partial names remembered; the files behind them are cached without limit. */
const MAX_NAMES = 1000;

/** Locals handed to a partial. */
export type Locals = Record<string, unknown>;

/**
 * Finds Pug partials in a views folder, compiles each once and keeps the compiled function, so a
 * broadcast costs one call of that function however many pages are listening.
 */
export class Renderer {
  private folder: string;
  /** Compiled partials by name; a name and its spellings (`x`, `x.pug`, `./x`) share one file. */
  private readonly compiled = new Map<string, pug.compileTemplate>();
  /** Compiled partials by file, so each file is compiled once whatever name reached it. */
  private readonly byFile = new Map<string, pug.compileTemplate>();

  /** @param viewsDir The folder partial names are relative to, like Express's `views`. */
  constructor(viewsDir: string) {
    this.folder = path.resolve(viewsDir);
  }

  /** The folder partial names are relative to. */
  get viewsDir(): string {
    return this.folder;
  }

  /** Reads partials from `viewsDir` from now on; those compiled from the old folder are dropped. */
  useViews(viewsDir: string): void {
    const folder = path.resolve(viewsDir);
    if (folder === this.folder) return;
    debug('partials from %s', folder);
    this.folder = folder;
    this.clear();
  }

  /**
   * Renders the partial `name` (`'chat/message'` is `<views>/chat/message.pug`) with `locals`.
   * Throws a TurboExpressError with code TEMPLATE_NOT_FOUND or RENDER_FAILED.
   */
  render(name: string, locals: Locals): string {
    const template = this.compiled.get(name) ?? this.compile(name);
    try {
      return template(locals);
    } catch (error) {
      throw new TurboExpressError(
        ErrorCodes.RENDER_FAILED,
        `The partial "${name}" threw while rendering: ${messageOf(error)}`,
        { template: name },
        error,
      );
    }
  }

  /** Forgets every compiled partial, so edited files are read again. */
  clear(): void {
    this.compiled.clear();
    this.byFile.clear();
  }

  private compile(name: string): pug.compileTemplate {
    const file = this.resolve(name);
    // Names come from code, but may be built at run time: bound the name map, not the files.
    if (this.compiled.size >= MAX_NAMES) this.compiled.clear();
    const known = this.byFile.get(file);
    if (known !== undefined) {
      this.compiled.set(name, known);
      return known;
    }
    debug('compile %s', file);
    try {
      const template = pug.compileFile(file, { basedir: this.viewsDir });
      this.byFile.set(file, template);
      this.compiled.set(name, template);
      return template;
    } catch (error) {
      throw new TurboExpressError(
        ErrorCodes.RENDER_FAILED,
        `The partial "${name}" does not compile: ${messageOf(error)}`,
        { template: name },
        error,
      );
    }
  }

  private resolve(name: string): string {
    const relative = name.endsWith('.pug') ? name : `${name}.pug`;
    const file = path.resolve(this.viewsDir, relative);
    const isInside = file.startsWith(this.viewsDir + path.sep);
    if (!isInside || !fs.existsSync(file)) {
      throw new TurboExpressError(
        ErrorCodes.TEMPLATE_NOT_FOUND,
        `No partial "${name}" in ${this.viewsDir}: create ${relative} there ` +
          'or set the "views" option of turboStreams()',
        { template: name },
      );
    }
    return file;
  }
}
