/**
 * Entry point: `npm run bench [-- --quick] [-- --only raw,better-sse] [-- --repeat 3]`.
 * Forks one server process and one load generator per contestant and run, prints a markdown
 * table of medians and whether the product's targets hold, and writes .bench/results.json.
 * `-- --side-by-side [--rounds 5]` runs only the side-by-side comparison of side-by-side.ts.
 * Figures are printed, never asserted.
 */
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killAllChildren, stopAllChildren } from './children';
import { runContestant } from './contestant';
import { profileFor, type Profile } from './profiles';
import { runSideBySide } from './side-by-side';
import { markdownTable, methodNotes, type ContestantRuns } from './report';
import { targetReport } from './targets';
import { warnings } from './warnings';
import { CONTESTANTS, type Contestant } from './servers/index';

const RESULTS_FILE = path.resolve(__dirname, '..', '.bench', 'results.json');

interface Args {
  quick: boolean;
  only: string[] | null;
  /** Runs per contestant; the table shows medians. */
  repeat: number;
  /** Rounds of the side-by-side comparison instead of the full run, or null. */
  sideBySide: number | null;
}

function parseArgs(argv: string[]): Args {
  const valueOf = (flag: string) => {
    const index = argv.indexOf(flag);
    return index >= 0 ? (argv[index + 1] ?? '') : null;
  };
  const only = valueOf('--only');
  const repeat = Number(valueOf('--repeat') ?? 1);
  if (!Number.isSafeInteger(repeat) || repeat < 1 || repeat > 9) {
    throw new Error('--repeat takes a whole number from 1 to 9');
  }
  const rounds = Number(valueOf('--rounds') ?? 5);
  if (!Number.isSafeInteger(rounds) || rounds < 1 || rounds > 99) {
    throw new Error('--rounds takes a whole number from 1 to 99');
  }
  return {
    quick: argv.includes('--quick'),
    only: only === null ? null : only.split(','),
    repeat,
    sideBySide: argv.includes('--side-by-side') ? rounds : null,
  };
}

/** Each process holds up to max(subscribers) sockets; warn instead of failing mid-run. */
function checkFileLimit(profile: Profile): number {
  const limit = Number(execSync('ulimit -n', { shell: '/bin/sh' }).toString().trim());
  const needed = Math.max(...profile.latencySubscribers, ...profile.memorySubscribers) + 200;
  if (Number.isFinite(limit) && limit < needed) {
    console.warn(
      `warning: ulimit -n is ${limit}, need about ${needed}; raise it or expect failures`,
    );
  }
  return limit;
}

function writeResults(profile: Profile, fileLimit: number, results: ContestantRuns[]): void {
  mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    fileLimit,
    note: 'raw and better-sse-bare have no database; latency includes POST handling on the server',
  };
  writeFileSync(RESULTS_FILE, JSON.stringify({ meta, profile, results }, null, 2));
}

async function main(): Promise<void> {
  const { quick, only, repeat, sideBySide } = parseArgs(process.argv.slice(2));
  if (sideBySide !== null) {
    await runSideBySide(sideBySide, (line) => console.log(line));
    return;
  }
  const profile = profileFor(quick);
  const fileLimit = checkFileLimit(profile);
  const contestants = CONTESTANTS.filter((c) =>
    only ? only.includes(c.name) : !(quick && c.fullOnly),
  );
  const started = Date.now();
  const results: ContestantRuns[] = contestants.map((c) => ({
    name: c.name,
    pipeline: c.pipeline,
    runs: [],
  }));

  // Interleaved, so that drift on a shared machine spreads over every contestant alike.
  for (let run = 1; run <= repeat; run++) {
    for (const [index, contestant] of contestants.entries()) {
      const which = repeat > 1 ? `, run ${run}/${repeat}` : '';
      console.log(`\n## ${contestant.name} (${profile.mode}${which})`);
      const result = await runContestant(contestant, profile, (line) => console.log(line));
      results[index].runs.push(result);
    }
  }

  writeResults(profile, fileLimit, results);
  printSummary(profile, contestants, results, repeat);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`\nResults: ${path.relative(process.cwd(), RESULTS_FILE)} (${seconds} s)`);
}

function printSummary(
  profile: Profile,
  contestants: Contestant[],
  results: ContestantRuns[],
  repeat: number,
): void {
  const cpus = os.cpus().length;
  console.log(`\n### SSE fan-out, ${profile.mode} mode, ${cpus} CPUs, Node ${process.version}\n`);
  for (const c of contestants) console.log(`- **${c.name}**: ${c.pipeline}`);
  console.log('\nServer and load generator are separate processes sharing the same CPUs.');
  for (const note of methodNotes(profile, repeat)) console.log(`- ${note}`);
  console.log(`\n${markdownTable(results, profile)}`);
  const targets = targetReport(results, profile);
  if (targets.length) console.log(`\nTargets for turbo-express (medians):\n${targets.join('\n')}`);
  const notes = warnings(results.flatMap((r) => r.runs));
  if (notes.length) console.log(`\nWarnings:\n${notes.map((n) => `- ${n}`).join('\n')}`);
}

process.on('SIGINT', () => {
  killAllChildren();
  process.exit(130);
});

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => stopAllChildren());
