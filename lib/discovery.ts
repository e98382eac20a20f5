import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import createDebug from 'debug';
import { ErrorCodes, TurboExpressError, messageOf } from './errors';
import { ModelStream } from './model-stream';
import { registerStream } from './registry';
import { Stream, type StreamClass } from './stream';

const debug = createDebug('turbo-express:discovery');

const SKIPPED_FOLDERS = new Set(['node_modules', 'dist', 'build', 'coverage', 'test', 'tests']);

/**
 * Finds the `streams.ts` / `streams.js` files under `folder`, loads them and registers every
 * stream class they export, the way an app's streams modules are picked up by convention.
 * Folders named node_modules, dist, build, coverage, test and tests, and hidden ones, are
 * skipped. `.ts` files are loaded only when a TypeScript loader (tsx, ts-node) is active.
 *
 * Files of a CommonJS package are loaded with `require()` and their classes registered before
 * this returns, so a file that fails to load, or a class that `registerStream()` refuses, throws
 * at once; files of an ES module package (`"type": "module"`, `.mjs`, `.mts`) with `import()`,
 * so that they share the app's module instances, and then reject. Resolves to the classes
 * registered.
 */
export function discoverStreams(folder: string): Promise<StreamClass[]> {
  return discoverStreamsIn([folder]);
}

/**
 * `discoverStreams()` over several folders at once. The CommonJS files of every folder are loaded
 * and registered first, so that one that fails throws before any import() starts and no import's
 * failure is left unobserved.
 */
export function discoverStreamsIn(folders: readonly string[]): Promise<StreamClass[]> {
  const files = folders.flatMap((folder) => {
    const found = findStreamFiles(path.resolve(folder));
    if (found.length === 0) debug('no streams file under %s', path.resolve(folder));
    return found;
  });
  const modules = files.filter(isEsm);
  const required = files
    .filter((file) => !modules.includes(file))
    .flatMap((file) => registerExports(requireFile(file)));
  const imported = modules.map((file) => importFile(file).then(registerExports));
  // A class exported under several names is registered once and listed once.
  return Promise.all(imported).then((lists) => [...new Set([...required, ...lists.flat()])]);
}

function requireFile(file: string): LoadedFile {
  try {
    return { file, exports: require(file) as Record<string, unknown> };
  } catch (error) {
    throw loadError(file, error);
  }
}

async function importFile(file: string): Promise<LoadedFile> {
  try {
    return { file, exports: (await import(pathToFileURL(file).href)) as Record<string, unknown> };
  } catch (error) {
    throw loadError(file, error);
  }
}

interface LoadedFile {
  file: string;
  exports: Record<string, unknown>;
}

/** Registers a file's stream classes; a class refused makes the file's error, naming it. */
function registerExports({ file, exports }: LoadedFile): StreamClass[] {
  const found: StreamClass[] = [];
  for (const value of Object.values(exports ?? {})) {
    if (
      typeof value === 'function' &&
      value.prototype instanceof Stream &&
      !isAbstractBase(value)
    ) {
      try {
        registerStream(value as unknown as StreamClass);
      } catch (error) {
        throw new TurboExpressError(
          ErrorCodes.DISCOVERY_FAILED,
          `Could not register the stream classes of ${file}: ${messageOf(error)}`,
          {},
          error,
        );
      }
      found.push(value as unknown as StreamClass);
    }
  }
  debug('loaded %s', file);
  return found;
}

function loadError(file: string, error: unknown): TurboExpressError {
  return new TurboExpressError(
    ErrorCodes.DISCOVERY_FAILED,
    `Could not load the streams file ${file}: ${messageOf(error)}`,
    {},
    error,
  );
}

/** Tells whether Node loads `file` as an ES module: by extension, else by its package.json. */
function isEsm(file: string): boolean {
  if (/\.m[jt]s$/.test(file)) return true;
  if (/\.c[jt]s$/.test(file)) return false;
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        return JSON.parse(fs.readFileSync(manifest, 'utf8')).type === 'module';
      } catch {
        return false; // An unreadable manifest makes Node fall back to CommonJS too.
      }
    }
    if (path.dirname(dir) === dir) return false;
  }
}

function isAbstractBase(value: Function): boolean {
  return value === ModelStream;
}

function findStreamFiles(folder: string): string[] {
  const canLoadTs = require.extensions['.ts'] !== undefined;
  const names = new Set([
    'streams.js',
    'streams.cjs',
    'streams.mjs',
    ...(canLoadTs ? ['streams.ts', 'streams.cts', 'streams.mts'] : []),
  ]);
  const files: string[] = [];
  const visit = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // An unreadable folder holds nothing we can load.
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory() && !SKIPPED_FOLDERS.has(entry.name)) visit(full);
      else if (entry.isFile() && names.has(entry.name)) files.push(full);
    }
  };
  visit(folder);
  return files.sort();
}
