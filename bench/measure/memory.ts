/** Server memory after a full GC with only idle subscribers connected. */
import type { Profile } from '../profiles';
import type { BenchSession } from '../session';
import { slope } from '../stats';

/**
 * glibc gives each thread that allocates its own malloc arena, up to eight per core, and keeps
 * what was freed in it. A contestant whose subscriptions query SQLite runs those queries on
 * libuv's worker threads, so after thousands of subscriptions at once its RSS holds free space in
 * every worker's arena, by an amount that changes from run to run. Capping the arenas, as is
 * common for Node services with native modules, leaves what the subscribers themselves hold.
 */
export const BOUNDED_ARENAS: Record<string, string> = { MALLOC_ARENA_MAX: '2' };

export interface MemoryPoint {
  subscribers: number;
  rss: number;
  heapUsed: number;
}

export interface MemoryFigure {
  points: MemoryPoint[];
  rssBytesPerSubscriber: number | null;
  heapBytesPerSubscriber: number | null;
}

export async function memoryPoint(
  session: BenchSession,
  subscribers: number,
): Promise<MemoryPoint> {
  const { memory } = await session.stats(true);
  return { subscribers, rss: memory.rss, heapUsed: memory.heapUsed };
}

/** Grows the idle subscribers through the profile's memory points, measuring at each. */
export async function measureMemory(
  session: BenchSession,
  profile: Profile,
): Promise<MemoryFigure> {
  const points: MemoryPoint[] = [];
  for (const n of [...profile.memorySubscribers].sort((a, b) => a - b)) {
    await session.subscribers(n);
    points.push(await memoryPoint(session, n));
  }
  return memoryFigure(points);
}

export function memoryFigure(points: MemoryPoint[]): MemoryFigure {
  const xs = points.map((p) => p.subscribers);
  return {
    points,
    rssBytesPerSubscriber: slope(
      xs,
      points.map((p) => p.rss),
    ),
    heapBytesPerSubscriber: slope(
      xs,
      points.map((p) => p.heapUsed),
    ),
  };
}
