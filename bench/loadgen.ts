/**
 * Load generator child process: `node --import tsx loadgen.ts <port>`. Holds the subscriber
 * sockets and the publisher; the orchestrator drives it over IPC (see rpc.ts).
 */
import { EVENTS_PATH } from './servers/contract';
import { serveRpc } from './rpc';
import { SubscriberPool } from './loadgen/pool';
import { Publisher } from './loadgen/publisher';
import { burstOffsets, runSchedule, steadyOffsets } from './loadgen/schedule';

const port = Number(process.argv[2]);
const pool = new SubscriberPool(port, EVENTS_PATH);
const publisher = new Publisher(port);

interface SteadyParams {
  rate: number;
  durationMs: number;
  size: number;
  drainMs: number;
  sample: number;
}

interface BurstParams {
  count: number;
  /** Messages per POST: 1 fires `count` POSTs at once, more packs them into fewer requests. */
  perPost: number;
  size: number;
  drainMs: number;
  sample: number;
}

serveRpc(
  {
    resize: ({ total }: { total: number }) => pool.resize(total),
    steady: ({ rate, durationMs, size, drainMs, sample }: SteadyParams) => {
      pool.sample(sample);
      return runSchedule(pool, publisher, {
        offsets: steadyOffsets(rate, durationMs),
        size,
        drainMs,
      });
    },
    burst: ({ count, perPost, size, drainMs, sample }: BurstParams) => {
      pool.sample(sample);
      const offsets = burstOffsets(Math.ceil(count / perPost));
      return runSchedule(pool, publisher, { offsets, size, drainMs, perPost });
    },
    health: () => ({ size: pool.size, unexpectedCloses: pool.unexpectedCloses }),
  },
  () => {
    pool.closeAll();
    publisher.close();
  },
);
process.send?.({ ready: true });
