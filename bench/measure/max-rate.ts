/**
 * Highest sustained broadcast rate: step the open-loop rate up until p99 exceeds the bound or
 * messages are still missing after the drain. Bounded by the step list.
 */
import type { Profile } from '../profiles';
import type { BenchSession } from '../session';
import { metered, type MeteredRun } from './metered';

export interface MaxRateFigure {
  subscribers: number;
  /** Highest passing rate, 0 if even the first step failed. */
  broadcastsPerSec: number;
  deliveriesPerSec: number;
  steps: Array<{ rate: number; passed: boolean; why: string; metered: MeteredRun }>;
}

export async function measureMaxRate(
  session: BenchSession,
  profile: Profile,
  log: (line: string) => void,
): Promise<MaxRateFigure> {
  const figure: MaxRateFigure = {
    subscribers: profile.throughputSubscribers,
    broadcastsPerSec: 0,
    deliveriesPerSec: 0,
    steps: [],
  };
  for (const rate of profile.rateSteps) {
    const step = await metered(session, () =>
      session.steady({
        rate,
        durationMs: profile.stepDurationMs,
        size: profile.defaultPayload,
        drainMs: profile.drainMs,
        sample: profile.sample,
      }),
    );
    const why = failureReason(step, profile);
    figure.steps.push({ rate, passed: why === '', why, metered: step });
    log(`  rate ${rate}/s: p99 ${step.run.latency.p99?.toFixed(1)} ms ${why || 'ok'}`);
    if (why) break;
    figure.broadcastsPerSec = rate;
    figure.deliveriesPerSec = (step.run.delivered / profile.stepDurationMs) * 1000;
  }
  return figure;
}

function failureReason({ run }: MeteredRun, profile: Profile): string {
  if (run.postErrors > 0) return `${run.postErrors} POST errors`;
  if (!run.complete) return `fell behind (${run.delivered}/${run.expected} delivered)`;
  if ((run.latency.p99 ?? Infinity) > profile.p99BoundMs)
    return `p99 over ${profile.p99BoundMs} ms`;
  return '';
}
