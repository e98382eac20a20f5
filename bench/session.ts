/** One contestant's server process plus a load generator process aimed at it. */
import path from 'node:path';
import { sleep } from './clock';
import { forkTs, type Child } from './children';
import type { ScheduleResult } from './loadgen/schedule';
import type { Contestant } from './servers/index';
import type { ServerStats } from './servers/host';

export class BenchSession {
  private constructor(
    private readonly server: Child,
    private readonly loadgen: Child,
  ) {}

  static async start(contestant: Contestant): Promise<BenchSession> {
    const server = forkTs(
      path.join(__dirname, 'servers/host.ts'),
      [contestant.modulePath],
      ['--expose-gc'],
    );
    let loadgen: Child | undefined;
    try {
      const { port } = await withTimeout(server.ready, 30_000, 'server start');
      loadgen = forkTs(path.join(__dirname, 'loadgen.ts'), [String(port)]);
      await withTimeout(loadgen.ready, 30_000, 'loadgen start');
      return new BenchSession(server, loadgen);
    } catch (error) {
      await Promise.all([server.stop(), loadgen?.stop()]);
      throw error;
    }
  }

  stats(gc = false): Promise<ServerStats> {
    return this.server.rpc.call<ServerStats>('stats', { gc });
  }

  /** Resize the subscriber pool and wait until the server agrees on the count. */
  async subscribers(total: number): Promise<void> {
    const { size, failed } = await this.loadgen.rpc.call<{ size: number; failed: number }>(
      'resize',
      { total },
    );
    if (size !== total)
      throw new Error(`only ${size}/${total} subscribers connected (${failed} failed)`);
    for (let waited = 0; waited < 10_000; waited += 50) {
      if ((await this.stats()).subscribers === total) return;
      await sleep(50);
    }
    throw new Error(`server does not report ${total} subscribers`);
  }

  steady(params: {
    rate: number;
    durationMs: number;
    size: number;
    drainMs: number;
    sample: number;
  }) {
    return this.loadgen.rpc.call<ScheduleResult>('steady', params);
  }

  burst(params: { count: number; perPost: number; size: number; drainMs: number; sample: number }) {
    return this.loadgen.rpc.call<ScheduleResult>('burst', params);
  }

  async stop(): Promise<void> {
    // Server first: it closes the sockets, so TIME_WAIT lands on its side, not the generator's ports.
    await this.server.stop();
    await this.loadgen.stop();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
