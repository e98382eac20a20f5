/** Save-to-receive latency at light, steady load for the current subscriber count. */
import type { Profile } from '../profiles';
import type { BenchSession } from '../session';
import { metered, type MeteredRun } from './metered';

export function measureLatency(session: BenchSession, profile: Profile): Promise<MeteredRun> {
  return metered(session, () =>
    session.steady({
      rate: profile.latencyRate,
      durationMs: profile.latencyDurationMs,
      size: profile.defaultPayload,
      drainMs: profile.drainMs,
      sample: profile.sample,
    }),
  );
}
