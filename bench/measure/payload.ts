/** CPU per delivery as the message grows, at a fixed rate and subscriber count. */
import type { Profile } from '../profiles';
import type { BenchSession } from '../session';
import { metered, type MeteredRun } from './metered';

export interface PayloadPoint {
  size: number;
  metered: MeteredRun;
}

export async function measurePayloadSizes(
  session: BenchSession,
  profile: Profile,
): Promise<PayloadPoint[]> {
  const points: PayloadPoint[] = [];
  for (const size of profile.payloadSizes) {
    const run = await metered(session, () =>
      session.steady({
        rate: profile.payloadRate,
        durationMs: profile.payloadDurationMs,
        size,
        drainMs: profile.drainMs,
        sample: profile.sample,
      }),
    );
    points.push({ size, metered: run });
  }
  return points;
}
