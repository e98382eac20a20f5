/**
 * The chat on two processes sharing one broker:
 *
 *   npm run example:cluster                    # Redis at REDIS_URL or 127.0.0.1:6379
 *   BROKER=postgres npm run example:cluster    # PostgreSQL at DATABASE_URL or 127.0.0.1:5432/test
 *
 * Opens http://localhost:3000 and http://localhost:3001 (PORT sets the first). A message posted on
 * one port appears live on pages of the other. Both processes use the same database and the same
 * TURBO_SECRET, as the processes of one app must. Ctrl-C stops both.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { prepareDatabase, sequelize } from './models';

const PROCESSES = 2;

async function main(): Promise<void> {
  const broker = process.env.BROKER || 'redis';
  const firstPort = Number(process.env.PORT ?? 3000);
  const secret = process.env.TURBO_SECRET ?? 'example-chat-secret-change-me';

  // Created once here, so the two processes do not both seed the rooms.
  await prepareDatabase();
  await sequelize.close();

  const children: ChildProcess[] = [];
  for (let i = 0; i < PROCESSES; i++) {
    const child = fork(path.join(__dirname, 'server.ts'), [], {
      execArgv: ['--require', 'tsx/cjs'],
      env: { ...process.env, BROKER: broker, PORT: String(firstPort + i), TURBO_SECRET: secret },
    });
    child.on('exit', (code, signal) => {
      console.log(`Chat process ${child.pid} exited (${signal ?? code})`);
      if (!stopping) stop(1);
    });
    children.push(child);
  }
  console.log(`Chat on ${PROCESSES} processes with the ${broker} broker`);

  let stopping = false;
  function stop(code = 0): void {
    if (stopping) return;
    stopping = true;
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => process.exit(code), 5000);
    timer.unref();
    process.exitCode = code;
  }
  process.once('SIGINT', () => stop());
  process.once('SIGTERM', () => stop());
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
