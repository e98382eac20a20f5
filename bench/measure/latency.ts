/** Save-to-receive latency at light, steady load for the current subscriber count. */
import type { Profile } from '../profiles';
import type { BenchSession } from '../session';
import { metered, type MeteredRun } from './metered';

/** The broadcast rate of the latency run at `subscribers`. */
export function latencyRateAt(profile: Profile, subscribers: number): number {
  return subscribers < 1000 ? profile.latencyRateFew : profile.latencyRate;
}

export function measureLatency(
  session: BenchSession,
  profile: Profile,
  subscribers: number,
): Promise<MeteredRun> {
  return metered(session, () =>
    session.steady({
      rate: latencyRateAt(profile, subscribers),
      durationMs: profile.latencyDurationMs,
      size: profile.defaultPayload,
      drainMs: profile.drainMs,
      sample: profile.sample,
    }),
  );
}
