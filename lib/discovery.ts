import fs from 'node:fs';
import path from 'node:path';
import createDebug from 'debug';
import { ErrorCodes, TurboExpressError } from './errors';
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
 * Returns the classes registered.
 */
export function discoverStreams(folder: string): StreamClass[] {
  const found: StreamClass[] = [];
  for (const file of findStreamFiles(path.resolve(folder))) {
    let exports: Record<string, unknown>;
    try {
      exports = require(file);
    } catch (error) {
      throw new TurboExpressError(
        ErrorCodes.DISCOVERY_FAILED,
        `Could not load the streams file ${file}: ${(error as Error)?.message ?? error}`,
        {},
        error,
      );
    }
    for (const value of Object.values(exports ?? {})) {
      if (typeof value === 'function' && value.prototype instanceof Stream && !isAbstractBase(value)) {
        registerStream(value as unknown as StreamClass);
        found.push(value as unknown as StreamClass);
      }
    }
    debug('loaded %s', file);
  }
  return found;
}

function isAbstractBase(value: Function): boolean {
  return value === ModelStream;
}

function findStreamFiles(folder: string): string[] {
  const canLoadTs = require.extensions['.ts'] !== undefined;
  const names = new Set(['streams.js', 'streams.cjs', ...(canLoadTs ? ['streams.ts', 'streams.cts'] : [])]);
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
