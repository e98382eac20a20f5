/**
 * The product's targets, checked against the medians and printed (never asserted): figures vary
 * too much on a shared machine to fail a build on them.
 */
import type { Profile } from './profiles';
import { medianOf, rangeOf, rows, type ContestantRuns, type Row } from './report';

const PRODUCT = 'turbo-express';

interface Target {
  what: string;
  /** The figure's key in report.ts, the baseline, and the allowed ratio. */
  key: string;
  baseline: string;
  holds: (ratio: number) => boolean;
  bound: string;
}

function targetList(profile: Profile): Target[] {
  const most = Math.max(...profile.latencySubscribers);
  return [
    {
      what: `CPU per delivery (${profile.defaultPayload} B)`,
      key: `cpu@${profile.defaultPayload}`,
      baseline: 'raw',
      holds: (r) => r <= 1.15,
      bound: '<= 1.15× raw',
    },
    {
      what: 'CPU per extra delivery (fan-out only, DB write excluded)',
      key: 'fanOut',
      baseline: 'raw',
      holds: (r) => r <= 1.15,
      bound: '<= 1.15× raw',
    },
    {
      what:
        `latency p99 @ ${most.toLocaleString('en-US')} subs` +
        (most < 10_000 ? ' (10,000 in full mode)' : ''),
      key: `p99@${most}`,
      baseline: 'raw',
      holds: (r) => r <= 1.3,
      bound: '<= 1.3× raw',
    },
    {
      what: 'RSS per idle subscriber',
      key: 'rss',
      baseline: 'raw',
      holds: (r) => r <= 1.2,
      bound: '<= 1.2× raw',
    },
    {
      what: `burst, ${profile.burstPerPost} messages per turn`,
      key: 'burstTick',
      baseline: 'raw',
      holds: (r) => r > 1.5,
      bound: '> 1.5× raw',
    },
  ];
}

/** One line per target, then one for "ahead of better-sse on every figure". */
export function targetReport(contestants: ContestantRuns[], profile: Profile): string[] {
  const product = contestants.find((c) => c.name === PRODUCT);
  if (!product) return [];
  const all = rows(profile);
  const byKey = new Map(all.map((r) => [r.key, r]));
  const lines = targetList(profile).map((t) => {
    const r = byKey.get(t.key)!;
    const ratio = ratioOf(
      product,
      contestants.find((c) => c.name === t.baseline),
      r,
    );
    if (ratio === null) return `- n/a ${t.what}: ${t.bound} (no figure)`;
    return `- ${t.holds(ratio) ? 'MET ' : 'MISSED'} ${t.what}: ${ratio.toFixed(2)}× ${t.baseline} (target ${t.bound})`;
  });
  const peer = contestants.find((c) => c.name === 'better-sse');
  if (peer) {
    const behind: string[] = [];
    const level: string[] = [];
    for (const r of all.filter((row) => row.better !== '')) {
      const [mine, theirs] = [medianOf(product, r), medianOf(peer, r)];
      if (mine === null || theirs === null) continue;
      if (mine === theirs) level.push(r.label);
      else if (r.better === 'lower' ? mine > theirs : mine < theirs) {
        const ratio = ratioOf(product, peer, r);
        const overlap = rangesOverlap(product, peer, r) ? ', ranges overlap' : '';
        behind.push(ratio === null ? r.label : `${r.label} (${ratio.toFixed(2)}×${overlap})`);
      }
    }
    const notAhead = [
      behind.length > 0 ? `behind on: ${behind.join('; ')}` : '',
      level.length > 0 ? `level on: ${level.join('; ')}` : '',
    ].filter(Boolean);
    lines.push(
      notAhead.length === 0
        ? '- MET  ahead of better-sse on every figure'
        : `- MISSED ahead of better-sse on every figure; ${notAhead.join('; ')}`,
    );
  }
  return lines;
}

/** Whether two contestants' [min..max] over their runs share a value: the medians' order is weak. */
function rangesOverlap(a: ContestantRuns, b: ContestantRuns, r: Row): boolean {
  const [ra, rb] = [rangeOf(a, r), rangeOf(b, r)];
  if (ra === null || rb === null || a.runs.length < 2) return false;
  return ra[0] <= rb[1] && rb[0] <= ra[1];
}

function ratioOf(a: ContestantRuns, b: ContestantRuns | undefined, r: Row): number | null {
  const va = medianOf(a, r);
  const vb = medianOf(b, r);
  return va === null || !vb ? null : va / vb;
}
