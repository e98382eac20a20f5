import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import createDebug from 'debug';
import { messageOf } from './errors';

const debug = createDebug('turbo-express:secret');

const FILE_NAME = 'development-secret';
const SECRET = /^[0-9a-f]{64}$/;

/** The kept secret and its file, or why none could be kept. */
export type KeptSecret = { secret: string; file: string } | { secret: null; reason: string };

/**
 * The secret that signs stream names when the app gives none outside production, kept in
 * `node_modules/.cache/turbo-express/` of the nearest folder from `start` up that has a
 * `node_modules` (where build tools keep their caches), and made there the first time. An app
 * restarted under a watcher then still accepts the names its open pages hold: they reconnect and
 * catch up instead of getting 403 and going quiet. The file is readable by its owner only;
 * processes started from the same folder share it.
 *
 * A reason instead when there is no such folder, the file can be neither read nor made (a
 * read-only install), or it holds something other than a secret, which is left for the developer
 * to delete rather than replaced: processes starting at the same moment could each replace it.
 * The caller then signs with a secret of its own for the life of the process.
 */
export function keptDevelopmentSecret(start: string): KeptSecret {
  const folder = cacheFolder(start);
  if (folder === null) return { secret: null, reason: `no node_modules in ${start} or above it` };
  const file = path.join(folder, FILE_NAME);
  try {
    const secret = readSecret(file) ?? makeSecret(folder, file);
    return { secret, file };
  } catch (error) {
    debug('no development secret kept in %s: %s', folder, messageOf(error));
    return { secret: null, reason: messageOf(error) };
  }
}

function cacheFolder(start: string): string | null {
  for (let folder = path.resolve(start); ; folder = path.dirname(folder)) {
    if (fs.existsSync(path.join(folder, 'node_modules'))) {
      return path.join(folder, 'node_modules', '.cache', 'turbo-express');
    }
    if (path.dirname(folder) === folder) return null;
  }
}

/**
 * The kept secret, `null` when there is none yet. Throws when the file is not one this module
 * would have made: a link (to anywhere), something other than a secret, or readable by others
 * and not this process's to make private again.
 */
function readSecret(file: string): string | null {
  let stats: fs.Stats;
  try {
    stats = fs.lstatSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  if (!stats.isFile()) throw new Error(`${file} is not a plain file: delete it`);
  const text = fs.readFileSync(file, 'utf8').trim();
  if (!SECRET.test(text)) throw new Error(`${file} does not hold a secret: delete it`);
  if ((stats.mode & 0o077) !== 0) {
    // Its mode is that of its other names (hard links) too, which may not be this module's.
    if (stats.nlink > 1)
      throw new Error(`${file} is open to others and has other names: delete it`);
    try {
      fs.chmodSync(file, 0o600);
    } catch (error) {
      throw new Error(`${file} is open to others and cannot be made private: ${messageOf(error)}`);
    }
  }
  return text;
}

/**
 * Makes the file whole or not at all: written and synced under a name of its own, then linked
 * into place, so that a process starting at the same moment, or after a crash, never reads it
 * half written. If another process made it first, its secret is the one read.
 */
function makeSecret(folder: string, file: string): string {
  fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString('hex');
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    const descriptor = fs.openSync(draft, 'wx', 0o600);
    try {
      fs.writeFileSync(descriptor, `${secret}\n`);
      fs.fsyncSync(descriptor);
    } finally {
      fs.closeSync(descriptor);
    }
    fs.linkSync(draft, file);
    debug('made a development secret in %s', file);
    return secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // Made by another process meanwhile, unless it went away again just as fast.
    const made = readSecret(file);
    if (made === null) throw new Error(`${file} came and went while this process made it`);
    return made;
  } finally {
    fs.rmSync(draft, { force: true });
  }
}
