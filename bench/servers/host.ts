/**
 * Child process that runs one contestant: `node --import tsx --expose-gc host.ts <module>`.
 * Binds 127.0.0.1:0, reports the port over IPC, then answers stats requests.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { serveRpc } from '../rpc';
import type { ContestantModule } from './contract';

export interface ServerStats {
  cpu: NodeJS.CpuUsage;
  memory: NodeJS.MemoryUsage;
  renders: number | null;
  subscribers: number;
}

/**
 * V8 hands the pages a full GC emptied back to the system on a background thread, after `gc()`
 * returns: RSS read at once still counts them (tens of MB after a storm of connects). So RSS is
 * read every 25 ms until two reads in a row agree within 64 KB (at most 2 s).
 */
async function settledRss(): Promise<void> {
  let previous = process.memoryUsage.rss();
  for (let waited = 0; waited < 2_000; waited += 25) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const current = process.memoryUsage.rss();
    if (Math.abs(current - previous) < 64 * 1024) return;
    previous = current;
  }
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('start the server host with --expose-gc');
  // Twice: the first pass can leave finalizer-held objects for the second.
  gc();
  gc();
}

async function main(): Promise<void> {
  // tsx turns source-mapped stack traces on. A deployed app runs compiled JavaScript without
  // them, and Sequelize's SQLite dialect reads an Error's stack on every query: mapped, that
  // read cost the turbo-express contestant about 50 µs of CPU per query that no deployment pays.
  process.setSourceMapsEnabled(false);
  const modulePath = process.argv[2];
  const contestant = (await import(pathToFileURL(modulePath).href)) as ContestantModule;
  const bench = await contestant.createBenchServer();
  bench.server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 });
  await once(bench.server, 'listening');

  serveRpc(
    {
      stats: async ({ gc }: { gc?: boolean }): Promise<ServerStats> => {
        if (gc) {
          collectGarbage();
          await settledRss();
        }
        return {
          cpu: process.cpuUsage(),
          memory: process.memoryUsage(),
          renders: bench.renderCount(),
          subscribers: bench.subscriberCount(),
        };
      },
    },
    async () => {
      bench.server.closeAllConnections();
      await bench.close();
    },
  );
  process.send?.({ ready: true, port: (bench.server.address() as AddressInfo).port });
}

main().catch((error) => {
  console.error('server host failed:', error);
  process.exit(1);
});
