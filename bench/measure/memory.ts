/** Server memory after a full GC with only idle subscribers connected. */
import type { BenchSession } from '../session';
import { slope } from '../stats';

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
