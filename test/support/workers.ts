import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { BrokerSpec, WorkerCommand } from './worker';

type Command = WorkerCommand extends infer C
  ? C extends { ref: number }
    ? Omit<C, 'ref'>
    : never
  : never;

/** The parent's handle on one forked app process (test/support/worker.ts). */
export class Worker {
  readonly child: ChildProcess;
  /** Every error the process's broker or broadcasts reported, in order. */
  readonly errors: string[] = [];
  url = '';
  private ref = 0;
  private readonly pending = new Map<number, (reply: Record<string, unknown>) => void>();

  private constructor(child: ChildProcess) {
    this.child = child;
    child.on('message', (message: Record<string, unknown>) => {
      if (message.type === 'error') this.errors.push(String(message.message));
      const resolve = this.pending.get(message.ref as number);
      this.pending.delete(message.ref as number);
      resolve?.(message);
    });
  }

  /** Forks a worker for `spec` and resolves once its server listens. */
  static start(spec: BrokerSpec, timeout = 15_000): Promise<Worker> {
    const child = fork(path.join(__dirname, 'worker.ts'), [], {
      execArgv: ['--require', 'tsx/cjs'],
      env: { ...process.env, TURBO_TEST_BROKER: JSON.stringify(spec) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const worker = new Worker(child);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`The worker did not start within ${timeout} ms`));
      }, timeout);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`The worker exited with ${code} before it was ready`));
      });
      child.on('message', function onReady(message: Record<string, unknown>) {
        if (message.type !== 'ready') return;
        clearTimeout(timer);
        child.off('message', onReady);
        worker.url = String(message.url);
        resolve(worker);
      });
    });
  }

  /** Whether the process is still running. */
  get isAlive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends a command and resolves with the reply, failing after `timeout` ms. */
  request(command: Command, timeout = 10_000): Promise<Record<string, unknown>> {
    const ref = ++this.ref;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new Error(`No answer to ${command.type} within ${timeout} ms`));
      }, timeout);
      this.pending.set(ref, (reply) => {
        clearTimeout(timer);
        if (reply.failure !== undefined) reject(new Error(String(reply.failure)));
        else resolve(reply);
      });
      this.child.send({ ...command, ref });
    });
  }

  /** The `src` of a page showing the room, as this process renders it now. */
  async source(): Promise<string> {
    return String((await this.request({ type: 'source' })).src);
  }

  /** Creates a message in this process and resolves once its broadcast was handed to the broker. */
  async write(body: string): Promise<number> {
    return Number((await this.request({ type: 'write', body })).id);
  }

  async position(): Promise<string> {
    return String((await this.request({ type: 'position' })).position);
  }

  /** Closes the app and waits for the process to exit; kills it if it does not. */
  async stop(): Promise<void> {
    if (!this.isAlive) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    await this.request({ type: 'close' }, 5000).catch(() => this.child.kill('SIGKILL'));
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** The wire text of the append the fixture partial sends for a new message. */
export function appendOf(id: number, body: string): string {
  return `<turbo-stream action="append" target="messages"><template><div id="message-${id}"><p>${body}</p></div></template></turbo-stream>`;
}
