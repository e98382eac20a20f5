/** Server CPU and render counts around one load-generator run. */
import type { ScheduleResult } from '../loadgen/schedule';
import type { BenchSession } from '../session';
import { cpuMicros } from '../stats';

export interface MeteredRun {
  run: ScheduleResult;
  /** Server CPU µs (user + system) over the run. */
  cpuMicros: number;
  /** Server CPU µs (user + system) per delivered message. */
  cpuUsPerDelivery: number | null;
  /** Server CPU as % of one core over the run. */
  serverCpuPct: number;
  /** Template renders per broadcast, null if the contestant does not render. */
  rendersPerBroadcast: number | null;
}

export async function metered(
  session: BenchSession,
  go: () => Promise<ScheduleResult>,
): Promise<MeteredRun> {
  const before = await session.stats();
  const run = await go();
  const after = await session.stats();
  const micros = cpuMicros(before.cpu, after.cpu);
  const renders =
    before.renders === null || after.renders === null ? null : after.renders - before.renders;
  return {
    run,
    cpuMicros: micros,
    cpuUsPerDelivery: run.delivered > 0 ? micros / run.delivered : null,
    serverCpuPct: (micros / 1000 / run.elapsedMs) * 100,
    rendersPerBroadcast: renders === null ? null : renders / run.broadcasts,
  };
}
