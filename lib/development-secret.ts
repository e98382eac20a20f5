import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import createDebug from 'debug';
import { messageOf } from './errors';

const debug = createDebug('turbo-express:secret');

const FILE_NAME = 'development-secret';
const SECRET = /^[0-9a-f]{64}$/;

/**
 * The secret that signs stream names when the app gives none outside production, kept in
 * `node_modules/.cache/turbo-express/` of the nearest folder from `start` up that has a
 * `node_modules` (where build tools keep their caches), and made there the first time. An app
 * restarted under a watcher then still accepts the names its open pages hold: they reconnect and
 * catch up instead of getting 403 and going quiet. The file is readable by its owner only;
 * processes started from the same folder share it.
 *
 * `null` when no such folder exists or the file can be neither read nor made (a read-only
 * install): the caller then signs with a secret of its own for the life of the process.
 */
export function keptDevelopmentSecret(start: string): { secret: string; file: string } | null {
  const folder = cacheFolder(start);
  if (folder === null) return null;
  const file = path.join(folder, FILE_NAME);
  try {
    const secret = readSecret(file) ?? makeSecret(folder, file);
    return secret === null ? null : { secret, file };
  } catch (error) {
    debug('no development secret kept in %s: %s', folder, messageOf(error));
    return null;
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

/** The kept secret; `null` when there is none yet, or what is there is not one (then replaced). */
function readSecret(file: string): string | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  if (SECRET.test(text)) return text;
  debug('%s does not hold a secret: making a new one', file);
  fs.rmSync(file, { force: true });
  return null;
}

/**
 * Makes the file whole or not at all: written under a name of its own, then linked into place,
 * so that a process starting at the same moment never reads it half written. If another process
 * made it first, its secret is the one read.
 */
function makeSecret(folder: string, file: string): string | null {
  fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString('hex');
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  fs.writeFileSync(draft, `${secret}\n`, { mode: 0o600 });
  try {
    fs.linkSync(draft, file);
    debug('made a development secret in %s', file);
    return secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return readSecret(file);
  } finally {
    fs.rmSync(draft, { force: true });
  }
}
