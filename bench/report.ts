/**
 * Markdown table: one row per figure, one column per contestant. Each cell is the median over the
 * repeated runs, with its ratio to `raw` and, for the product, to `better-sse`.
 */
import type { ContestantResult } from './contestant';
import type { Profile } from './profiles';

type Better = 'lower' | 'higher' | '';
type Value = (r: ContestantResult) => number | null | undefined;

export interface Row {
  key: string;
  label: string;
  better: Better;
  value: Value;
  format: (v: number) => string;
}

/** Every run of one contestant, in the order they ran. */
export interface ContestantRuns {
  name: string;
  pipeline: string;
  runs: ContestantResult[];
}

const BASELINES = ['raw', 'better-sse'];

const ms = (v: number) => `${v.toFixed(2)} ms`;
const us = (v: number) => `${v.toFixed(2)} µs`;
const perSec = (v: number) => `${Math.round(v).toLocaleString('en-US')}/s`;
const kb = (v: number) => `${(v / 1024).toFixed(1)} KB`;
const plain = (v: number) => v.toFixed(2);
const count = (n: number) => n.toLocaleString('en-US');

function row(key: string, label: string, better: Better, value: Value, format: Row['format']): Row {
  return { key, label, better, value, format };
}

function latencyRows(profile: Profile): Row[] {
  return profile.latencySubscribers.flatMap((subs) => {
    const at = (r: ContestantResult) => r.latency.find((l) => l.subscribers === subs)?.metered.run;
    return [
      row(
        `p50@${subs}`,
        `latency p50 @ ${count(subs)} subs`,
        'lower',
        (r) => at(r)?.latency.p50,
        ms,
      ),
      row(
        `p99@${subs}`,
        `latency p99 @ ${count(subs)} subs`,
        'lower',
        (r) => at(r)?.latency.p99,
        ms,
      ),
    ];
  });
}

export function rows(profile: Profile): Row[] {
  const n = count(profile.throughputSubscribers);
  const most = count(Math.max(...profile.latencySubscribers));
  const atSize = (size: number) => (r: ContestantResult) =>
    r.payload.find((p) => p.size === size)?.metered;
  const cpuRows = profile.payloadSizes.map((size) =>
    row(
      `cpu@${size}`,
      `CPU per delivery, ${size} B @ ${n} subs`,
      'lower',
      (r) => atSize(size)(r)?.cpuUsPerDelivery,
      us,
    ),
  );
  // 0 means even the first step failed: the rate is somewhere below it, not zero.
  const firstStep = profile.rateSteps[0];
  const sustained = (perBroadcast: number) => (v: number) =>
    v === 0 ? `< ${perSec(firstStep * perBroadcast)}` : perSec(v);
  const largest = profile.payloadSizes.at(-1)!;
  const smallest = profile.payloadSizes[0];
  return [
    ...latencyRows(profile),
    row(
      'maxBroadcasts',
      `max sustained broadcasts @ ${n} subs`,
      'higher',
      (r) => r.maxRate.broadcastsPerSec,
      sustained(1),
    ),
    row(
      'maxDeliveries',
      `max sustained deliveries @ ${n} subs`,
      'higher',
      (r) => r.maxRate.deliveriesPerSec,
      sustained(profile.throughputSubscribers),
    ),
    ...cpuRows,
    row(
      'cpuGrowth',
      `CPU growth ${smallest} B -> ${largest} B`,
      'lower',
      (r) => {
        const a = atSize(smallest)(r)?.cpuUsPerDelivery;
        const b = atSize(largest)(r)?.cpuUsPerDelivery;
        return a && b ? b / a : null;
      },
      (v) => `${v.toFixed(2)}×`,
    ),
    row(
      'cpuAtOne',
      'CPU per broadcast @ 1 sub (POST, DB, render)',
      'lower',
      (r) => r.cpuUsPerBroadcastAtOne,
      us,
    ),
    row(
      'fanOut',
      `CPU per extra delivery, 1 -> ${most} subs (fan-out only)`,
      'lower',
      (r) => r.fanOutUsPerDelivery,
      us,
    ),
    row('rss', 'RSS per idle subscriber', 'lower', (r) => r.memory.rssBytesPerSubscriber, kb),
    row('heap', 'JS heap per idle subscriber', 'lower', (r) => r.memory.heapBytesPerSubscriber, kb),
    row(
      'burstPosts',
      `burst: ${profile.burstCount} POSTs at once @ ${n} subs`,
      'higher',
      (r) => r.burst.messagesPerSec,
      perSec,
    ),
    row(
      'burstTick',
      `burst: ${profile.burstCount} msgs, ${profile.burstPerPost} per turn @ ${n} subs`,
      'higher',
      (r) => r.tickBurst.messagesPerSec,
      perSec,
    ),
    row(
      'renders',
      'renders per broadcast',
      '',
      (r) => atSize(profile.defaultPayload)(r)?.rendersPerBroadcast,
      plain,
    ),
  ];
}

/** Median of the values that exist; null when no run produced one. */
export function median(values: Array<number | null | undefined>): number | null {
  const present = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (present.length === 0) return null;
  const sorted = [...present].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The median of one figure for one contestant, over its runs. */
export function medianOf(contestant: ContestantRuns | undefined, r: Row): number | null {
  return contestant ? median(contestant.runs.map(r.value)) : null;
}

export function markdownTable(contestants: ContestantRuns[], profile: Profile): string {
  const header = `| figure | better | ${contestants.map((c) => c.name).join(' | ')} |`;
  const rule = `|---|---|${contestants.map(() => '---:').join('|')}|`;
  const body = rows(profile).map((r) => {
    const cells = contestants.map((c) => cell(r, c, contestants));
    return `| ${r.label} | ${r.better} | ${cells.join(' | ')} |`;
  });
  return [header, rule, ...body].join('\n');
}

function cell(r: Row, contestant: ContestantRuns, all: ContestantRuns[]): string {
  const value = medianOf(contestant, r);
  if (value === null) return 'n/a';
  // Each contestant is compared with the baselines listed before it: the product with both.
  const at = BASELINES.indexOf(contestant.name);
  const ratios = (at === -1 ? BASELINES : BASELINES.slice(0, at))
    .map((name) => {
      const base = medianOf(
        all.find((c) => c.name === name),
        r,
      );
      // A ratio to or of 0 (a rate below the first step) says nothing.
      return base && value ? `${(value / base).toFixed(2)}× ${name}` : null;
    })
    .filter(Boolean);
  const spread = contestant.runs.length > 1 ? ` [${spreadOf(contestant, r)}]` : '';
  return `${r.format(value)}${ratios.length ? ` (${ratios.join(', ')})` : ''}${spread}`;
}

/** min-max over the runs, so a reader sees how far apart the repeats were. */
function spreadOf(contestant: ContestantRuns, r: Row): string {
  const range = rangeOf(contestant, r);
  return range === null ? '-' : `${r.format(range[0])}..${r.format(range[1])}`;
}

/** The lowest and highest value of a figure over a contestant's runs; null without any. */
export function rangeOf(contestant: ContestantRuns, r: Row): [number, number] | null {
  const values = contestant.runs
    .map(r.value)
    .filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return values.length === 0 ? null : [Math.min(...values), Math.max(...values)];
}

function latencyRates(profile: Profile): string {
  if (profile.latencyRate === profile.latencyRateFew) return `${profile.latencyRate} broadcasts/s`;
  return (
    `${profile.latencyRateFew} broadcasts/s below 1,000 subscribers and ` +
    `${profile.latencyRate}/s from 1,000 up`
  );
}

/** How each figure was produced, printed above the table. */
export function methodNotes(profile: Profile, repeat: number): string[] {
  const n = count(profile.throughputSubscribers);
  const most = count(Math.max(...profile.latencySubscribers));
  return [
    `Each cell is the median of ${repeat} run(s)` +
      (repeat > 1 ? ', [min..max] after it; contestants run interleaved.' : '.'),
    'Latency: intended POST time -> message parsed by a sampled subscriber (same host, loopback), ' +
      `open loop at ${latencyRates(profile)}, ${profile.defaultPayload} B, ` +
      `up to ${profile.sample} evenly spread subscribers sampled.`,
    `Max sustained: rate stepped ${profile.rateSteps.join(', ')}/s for ` +
      `${profile.stepDurationMs / 1000} s each; last step with p99 <= ${profile.p99BoundMs} ms ` +
      'and every message delivered.',
    `CPU per delivery: server user+system CPU / messages delivered, ${n} subs at ` +
      `${profile.payloadRate} broadcasts/s (includes POST handling and, for turbo-express and ` +
      'better-sse, the database write).',
    'CPU per broadcast @ 1 sub: the same server CPU over the 1-subscriber latency run, per ' +
      'broadcast: the fixed cost of one broadcast (POST, database write, render, one delivery).',
    `CPU per extra delivery: (CPU per broadcast @ ${most} subs - @ 1 sub) / (${most} - 1), from ` +
      'the latency runs: the fixed cost cancels out, leaving the fan-out.',
    `RSS/heap per idle subscriber: least-squares slope after global.gc() at ` +
      `${profile.memorySubscribers.map(count).join(' / ')} idle connections.`,
    `Burst: ${profile.burstCount} messages; "POSTs at once" fires ${profile.burstCount} POSTs over ` +
      `16 keep-alive connections; "per turn" sends ${profile.burstCount / profile.burstPerPost} ` +
      `POSTs asking for ${profile.burstPerPost} messages each, produced in one server turn (one ` +
      'bulkCreate for the contestants with a database). Messages delivered / time until the ' +
      'last one arrived.',
  ];
}
