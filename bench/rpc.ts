/**
 * Tiny request/response protocol over the child_process IPC channel, so the orchestrator can
 * drive the server and the load generator without sharing their event loops.
 */
import type { ChildProcess } from 'node:child_process';

type Handler = (params: any) => unknown | Promise<unknown>;

interface RpcRequest {
  rpc: number;
  method: string;
  params: unknown;
}

interface RpcReply {
  rpc: number;
  result?: unknown;
  error?: string;
}

/** Child side: answer requests from the parent; clean up and exit when the parent goes away. */
export function serveRpc(
  handlers: Record<string, Handler>,
  cleanup: () => void | Promise<void> = () => {},
): void {
  process.on('message', async (message: RpcRequest) => {
    if (typeof message?.rpc !== 'number') return;
    const handler = handlers[message.method];
    try {
      if (!handler) throw new Error(`unknown method ${message.method}`);
      const result = await handler(message.params);
      process.send?.({ rpc: message.rpc, result } satisfies RpcReply);
    } catch (error) {
      process.send?.({ rpc: message.rpc, error: String(error) } satisfies RpcReply);
    }
  });
  // An orphaned child must never outlive the run.
  process.on('disconnect', () => {
    const exit = () => process.exit(0);
    setTimeout(exit, 2000).unref();
    Promise.resolve().then(cleanup).then(exit, exit);
  });
}

/** Parent side: call a method on a forked child and await its reply. */
export class RpcClient {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();

  constructor(private readonly child: ChildProcess) {
    child.on('message', (message: RpcReply) => this.onReply(message));
    child.on('exit', (code) => this.failAll(new Error(`child exited with code ${code}`)));
  }

  call<T>(method: string, params: unknown = {}, timeoutMs = 120_000): Promise<T> {
    const rpc = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rpc);
        reject(new Error(`rpc ${method} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(rpc, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.child.send({ rpc, method, params } satisfies RpcRequest);
    });
  }

  private onReply(message: RpcReply): void {
    const waiter = typeof message?.rpc === 'number' ? this.pending.get(message.rpc) : undefined;
    if (!waiter) return;
    this.pending.delete(message.rpc);
    if (message.error) waiter.reject(new Error(message.error));
    else waiter.resolve(message.result);
  }

  private failAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}
