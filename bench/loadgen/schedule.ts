/**
 * Open-loop publishing: each broadcast has an intended send time fixed in advance and carries it
 * in the payload. If the generator or server falls behind, latency still counts from the intended
 * time (no coordinated omission).
 */
import { sleep, wallNow } from '../clock';
import { summarizeLatencies, type LatencySummary } from '../stats';
import type { SubscriberPool } from './pool';
import type { Publisher } from './publisher';

export interface ScheduleOptions {
  /** Offsets in ms from the start, ascending. All zero = a burst. */
  offsets: number[];
  size: number;
  /** How long to wait for stragglers after the last POST answered. */
  drainMs: number;
  /** Messages each POST asks for (`count`, produced in one turn on the server). Defaults to 1. */
  perPost?: number;
}

export interface ScheduleResult {
  subscribers: number;
  /** Messages asked for: POSTs x perPost. */
  broadcasts: number;
  postErrors: number;
  expected: number;
  delivered: number;
  complete: boolean;
  latency: LatencySummary;
  /** Intended start to the moment the last expected message arrived (or the drain gave up). */
  elapsedMs: number;
  /** How late the generator itself sent its last POST; large values mean the generator lagged. */
  sendLagMs: number;
  /** Generator CPU as % of one core during the run; near 100 means the numbers are client-bound. */
  loadgenCpuPct: number;
}

let nextSeq = 1;

export async function runSchedule(
  pool: SubscriberPool,
  publisher: Publisher,
  { offsets, size, drainMs, perPost = 1 }: ScheduleOptions,
): Promise<ScheduleResult> {
  await pool.settle(100, 2000);
  const firstSeq = nextSeq;
  pool.reset(firstSeq);
  const subscribers = pool.size;
  const cpuBefore = process.cpuUsage();
  const start = wallNow() + 5;
  const posts: Array<Promise<boolean>> = [];
  let sendLagMs = 0;

  let index = 0;
  while (index < offsets.length) {
    const now = wallNow();
    // Send everything that is due (catching up if a timer fired late).
    while (index < offsets.length && start + offsets[index] <= now) {
      const t = start + offsets[index];
      sendLagMs = now - t;
      posts.push(publisher.post({ seq: nextSeq, t, size, count: perPost }));
      nextSeq += perPost;
      index++;
    }
    if (index < offsets.length) await sleep(Math.max(0, start + offsets[index] - wallNow()));
  }

  const answers = await Promise.all(posts);
  const postErrors = answers.filter((ok) => !ok).length;
  const expected = (offsets.length - postErrors) * perPost * subscribers;
  const complete = await pool.waitForMessages(expected, drainMs);
  const elapsedMs = (complete ? pool.lastMessageAt : wallNow()) - start;
  const cpu = process.cpuUsage(cpuBefore);

  return {
    subscribers,
    broadcasts: offsets.length * perPost,
    postErrors,
    expected,
    delivered: pool.messages,
    complete,
    latency: summarizeLatencies(pool.latencies),
    elapsedMs,
    sendLagMs,
    loadgenCpuPct: ((cpu.user + cpu.system) / 1000 / (wallNow() - start)) * 100,
  };
}

export function steadyOffsets(rate: number, durationMs: number): number[] {
  const count = Math.max(1, Math.round((rate * durationMs) / 1000));
  return Array.from({ length: count }, (_, i) => (i * 1000) / rate);
}

export function burstOffsets(count: number): number[] {
  return new Array<number>(count).fill(0);
}
