/** Flags runs whose numbers need care: incomplete delivery or a saturated process. */
import type { ContestantResult } from './contestant';
import type { MeteredRun } from './measure/metered';

const SATURATED_PCT = 90;

function runWarnings(name: string, what: string, m: MeteredRun): string[] {
  const out: string[] = [];
  const { run } = m;
  if (!run.complete) out.push(`${name} ${what}: only ${run.delivered}/${run.expected} delivered`);
  if (run.loadgenCpuPct > SATURATED_PCT) {
    out.push(`${name} ${what}: load generator at ${Math.round(run.loadgenCpuPct)}% CPU`);
  }
  if (m.serverCpuPct > SATURATED_PCT) {
    out.push(`${name} ${what}: server at ${Math.round(m.serverCpuPct)}% CPU (saturated)`);
  }
  return out;
}

export function warnings(results: ContestantResult[]): string[] {
  return results.flatMap((r) => {
    const out = [
      ...r.latency.flatMap((l) => runWarnings(r.name, `latency @ ${l.subscribers}`, l.metered)),
      ...r.payload.flatMap((p) => runWarnings(r.name, `payload ${p.size} B`, p.metered)),
    ];
    const last = r.maxRate.steps.at(-1);
    if (last?.passed) out.push(`${r.name}: passed every rate step; max rate is a lower bound`);
    if (last && !last.passed && last.metered.run.loadgenCpuPct > SATURATED_PCT) {
      out.push(`${r.name}: max-rate step ${last.rate}/s failed with the load generator saturated`);
    }
    return out;
  });
}
