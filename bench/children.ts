/** Forks TypeScript children (server host, load generator) and guarantees they die with us. */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { RpcClient } from './rpc';

const REPO_ROOT = path.resolve(__dirname, '..');
const live = new Set<ChildProcess>();

export interface Child {
  process: ChildProcess;
  rpc: RpcClient;
  /** Resolves with the child's first non-RPC message (its "ready" report). */
  ready: Promise<any>;
  stop(): Promise<void>;
}

export function forkTs(script: string, args: string[], extraNodeArgs: string[] = []): Child {
  const child = fork(script, args, {
    cwd: REPO_ROOT,
    execArgv: ['--import', 'tsx', ...extraNodeArgs],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const ready = new Promise<any>((resolve, reject) => {
    const onMessage = (message: any) => {
      if (message && typeof message.rpc !== 'number') {
        child.off('message', onMessage);
        resolve(message);
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`${script} exited early (code ${code})`)));
  });
  ready.catch(() => {}); // observed by callers; avoid an unhandled rejection on late exits
  return { process: child, rpc: new RpcClient(child), ready, stop: () => stopChild(child) };
}

/** Ask politely (disconnect makes children exit), then SIGKILL this child by pid after 3 s. */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    if (child.connected) child.disconnect();
    else child.kill('SIGTERM');
  });
}

/** Last-resort cleanup for SIGINT or a crash: kill only the children we forked. */
export function killAllChildren(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}

export async function stopAllChildren(): Promise<void> {
  await Promise.all([...live].map(stopChild));
}
