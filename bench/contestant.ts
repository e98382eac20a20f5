/**
 * Runs every figure for one contestant on one server process. Memory comes first, right after
 * the warm-up, while subscriber counts only grow: what earlier runs left in the heap would
 * otherwise land in the slope. Then latency, with counts growing from 1 again, then the
 * throughput figures.
 */
import { measureBurst, type BurstFigure } from './measure/burst';
import { measureLatency } from './measure/latency';
import { measureMaxRate, type MaxRateFigure } from './measure/max-rate';
import { memoryFigure, memoryPoint, type MemoryFigure, type MemoryPoint } from './measure/memory';
import type { MeteredRun } from './measure/metered';
import { measurePayloadSizes, type PayloadPoint } from './measure/payload';
import type { Profile } from './profiles';
import type { Contestant } from './servers/index';
import { BenchSession } from './session';

export interface ContestantResult {
  name: string;
  pipeline: string;
  latency: Array<{ subscribers: number; metered: MeteredRun }>;
  memory: MemoryFigure;
  maxRate: MaxRateFigure;
  payload: PayloadPoint[];
  /** `burstCount` POSTs of one message each, fired at once. */
  burst: BurstFigure;
  /** `burstCount` messages asked for `burstPerPost` at a time, each group in one server turn. */
  tickBurst: BurstFigure;
  /** Server CPU per broadcast with one subscriber: POST, database write (if any), render. */
  cpuUsPerBroadcastAtOne: number | null;
  /**
   * Server CPU per delivery beyond the first, from the latency runs at 1 and at the largest
   * subscriber count: (CPU per broadcast at N - CPU per broadcast at 1) / (N - 1). The fixed
   * per-broadcast cost (POST handling, database write, render) cancels out, leaving the fan-out.
   */
  fanOutUsPerDelivery: number | null;
}

export async function runContestant(
  contestant: Contestant,
  profile: Profile,
  log: (line: string) => void,
): Promise<ContestantResult> {
  const session = await BenchSession.start(contestant);
  try {
    await warmUp(session, profile);
    const memory: MemoryPoint[] = [];
    for (const n of [...profile.memorySubscribers].sort((a, b) => a - b)) {
      await session.subscribers(n);
      memory.push(await memoryPoint(session, n));
    }
    log(`  memory: ${memory.map((p) => `${p.subscribers} subs ${kb(p.rss)} RSS`).join(', ')}`);
    await session.subscribers(0);
    const latency: ContestantResult['latency'] = [];
    for (const n of [...profile.latencySubscribers].sort((a, b) => a - b)) {
      await session.subscribers(n);
      const run = await measureLatency(session, profile, n);
      latency.push({ subscribers: n, metered: run });
      log(
        `  ${n} subscribers: p50 ${fmt(run.run.latency.p50)} ms, p99 ${fmt(run.run.latency.p99)} ms`,
      );
    }
    await session.subscribers(profile.throughputSubscribers);
    const maxRate = await measureMaxRate(session, profile, log);
    const payload = await measurePayloadSizes(session, profile);
    log(`  payload sweep done`);
    const burst = await measureBurst(session, profile, 1);
    const tickBurst = await measureBurst(session, profile, profile.burstPerPost);
    log(
      `  burst: ${Math.round(burst.messagesPerSec)} messages/s as POSTs, ` +
        `${Math.round(tickBurst.messagesPerSec)} messages/s ${profile.burstPerPost} per turn`,
    );
    return {
      name: contestant.name,
      pipeline: contestant.pipeline,
      latency,
      memory: memoryFigure(memory),
      maxRate,
      payload,
      burst,
      tickBurst,
      ...fixedAndFanOutCost(latency),
    };
  } finally {
    await session.stop();
  }
}

function fixedAndFanOutCost(latency: ContestantResult['latency']) {
  const perBroadcast = ({ metered }: ContestantResult['latency'][number]) =>
    metered.run.broadcasts > 0 ? metered.cpuMicros / metered.run.broadcasts : null;
  const one = latency.find((l) => l.subscribers === 1);
  const most = latency.at(-1);
  const atOne = one ? perBroadcast(one) : null;
  const atMost = most ? perBroadcast(most) : null;
  const fanOut =
    atOne === null || atMost === null || !most || most.subscribers < 2
      ? null
      : (atMost - atOne) / (most.subscribers - 1);
  return { cpuUsPerBroadcastAtOne: atOne, fanOutUsPerDelivery: fanOut };
}

/** Let the JIT and the POST keep-alive pool settle before anything is recorded. */
async function warmUp(session: BenchSession, profile: Profile): Promise<void> {
  await session.subscribers(1);
  await session.steady({
    rate: profile.warmUpRate,
    durationMs: (profile.warmUpBroadcasts * 1000) / profile.warmUpRate,
    size: profile.defaultPayload,
    drainMs: profile.drainMs,
    sample: 1,
  });
  await session.subscribers(100);
  await session.steady({
    rate: 50,
    durationMs: 500,
    size: profile.defaultPayload,
    drainMs: profile.drainMs,
    sample: profile.sample,
  });
}

function kb(bytes: number): string {
  return `${Math.round(bytes / 1024).toLocaleString('en-US')} KB`;
}

function fmt(value: number | null): string {
  return value === null ? '-' : value.toFixed(2);
}
