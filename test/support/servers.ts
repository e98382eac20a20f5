import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The machine's shared servers the broker suites use, each under names unique to one run. */
export const SHARED_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const SHARED_POSTGRES_URL =
  process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const REDIS_SERVER = '/usr/bin/redis-server';

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function isListening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** The port of a URL such as `redis://127.0.0.1:6379`. */
export function portOf(url: string, fallback: number): number {
  return Number(new URL(url).port || fallback);
}

/**
 * Skips the running test with `reason` when a service or binary is missing, except under CI=true,
 * where a missing service is a failure.
 */
export function requireService(test: Mocha.Context, isPresent: boolean, reason: string): void {
  if (isPresent) return;
  if (process.env.CI === 'true')
    throw new Error(`${reason} (CI=true, so this fails instead of skipping)`);
  console.log(`      skipped: ${reason}`);
  test.skip();
}

/** A free TCP port on 127.0.0.1, as the kernel hands it out. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A server of our own that a test may stop and start again on the same port. */
export interface PrivateServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it for good and removes its files. */
  destroy(): Promise<void>;
}

/** Whether a private redis-server can be started here. */
export function hasRedisServer(): boolean {
  return fs.existsSync(REDIS_SERVER);
}

/** Starts redis-server on a free port of 127.0.0.1, without persistence: a restart empties it. */
export async function startPrivateRedis(): Promise<PrivateServer> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'turbo-redis-'));
  let child: ChildProcess | null = null;

  async function start(): Promise<void> {
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ];
    child = spawn(REDIS_SERVER, args, { stdio: 'ignore' });
    await until(() => isListening(port), 5000, `redis-server on port ${port}`);
  }

  async function stop(): Promise<void> {
    const running = child;
    child = null;
    if (running === null || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  }

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    stop,
    async destroy() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The bin folder of the newest PostgreSQL installed, or null. */
export function postgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return null;
  const versions = fs
    .readdirSync(root)
    .filter((name) => fs.existsSync(path.join(root, name, 'bin', 'initdb')));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions.length === 0 ? null : path.join(root, versions[0], 'bin');
}

/**
 * Starts a PostgreSQL cluster of our own in a temporary folder, on a free port of 127.0.0.1 with
 * trust auth and a database `test`. As root the server runs as the postgres user, which PostgreSQL
 * requires. Its data survives stop() and start().
 */
export async function startPrivatePostgres(): Promise<PrivateServer> {
  const bin = postgresBin();
  if (bin === null) throw new Error('No PostgreSQL binaries under /usr/lib/postgresql');
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'turbo-pg-'));
  const data = path.join(dir, 'data');
  const isRoot = process.getuid?.() === 0;
  if (isRoot) execFileSync('chown', ['postgres:postgres', dir]);

  const run = (tool: string, args: string[]) => {
    const command = path.join(bin, tool);
    const [file, argv] = isRoot
      ? ['runuser', ['-u', 'postgres', '--', command, ...args]]
      : [command, args];
    execFileSync(file, argv, { stdio: 'ignore', cwd: dir, timeout: 60_000 });
  };
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;

  async function start(): Promise<void> {
    run('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'log'), '-w', 'start']);
  }
  async function stop(): Promise<void> {
    if (fs.existsSync(path.join(data, 'postmaster.pid')))
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  }

  await start();
  run('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'test']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/test`,
    port,
    start,
    stop,
    async destroy() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function until(check: () => Promise<boolean>, timeout: number, what: string): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
