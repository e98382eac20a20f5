/**
 * K broadcasts at once, two ways. `posts`: K POSTs back to back over the generator's 16
 * keep-alive sockets, so they reach the server in whatever turns the sockets deliver them.
 * `tick`: POSTs that each ask for `burstPerPost` messages, produced in one turn of the server's
 * event loop; a server that coalesces a connection's frames per turn writes each group once.
 */
import type { Profile } from '../profiles';
import type { BenchSession } from '../session';
import { metered, type MeteredRun } from './metered';

export interface BurstFigure {
  subscribers: number;
  broadcasts: number;
  /** Messages per POST (1 for the POST burst). */
  perPost: number;
  messagesPerSec: number;
  metered: MeteredRun;
}

export async function measureBurst(
  session: BenchSession,
  profile: Profile,
  perPost: number,
): Promise<BurstFigure> {
  const run = await metered(session, () =>
    session.burst({
      count: profile.burstCount,
      perPost,
      size: profile.defaultPayload,
      drainMs: profile.drainMs * 2,
      sample: profile.sample,
    }),
  );
  return {
    subscribers: run.run.subscribers,
    broadcasts: run.run.broadcasts,
    perPost,
    messagesPerSec: (run.run.delivered / run.run.elapsedMs) * 1000,
    metered: run,
  };
}
