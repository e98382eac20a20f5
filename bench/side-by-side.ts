/**
 * `npm run bench -- --side-by-side [--rounds N]`: the fixed CPU cost of a broadcast with one
 * subscriber (POST, Sequelize write, render, one delivery), for the two contestants that write a
 * row, measured with both servers running at the same time.
 *
 * The full run measures each contestant on its own, one after the other, so whatever else the
 * host does in the meantime (other virtual machines, CPU boost) lands on one and not the other:
 * this figure moves by ±15 % between runs, more than the difference it is meant to show. Here each
 * round starts both servers and both load generators at once, gives each one subscriber and the
 * same steady schedule (50 POSTs/s for 8 s, after 9,000 POSTs of warm-up; the second server's
 * POSTs half a period after the first's, so that they alternate), and reads each server's CPU over
 * the same seconds. What the host does weighs on both alike, and the ratio of one round is
 * steadier than either figure. Every round starts fresh processes.
 */
import { sleep } from './clock';
import { metered, type MeteredRun } from './measure/metered';
import { CONTESTANTS, type Contestant } from './servers/index';
import { BenchSession } from './session';
import { median } from './report';

const PAIR = ['better-sse', 'turbo-express'] as const;
const RATE = 50;
/** Warm-up: enough broadcasts for V8 to optimise what runs once per request (see profiles.ts). */
const WARM_UP_RATE = 300;
const WARM_UP_MS = 30_000;
const DURATION_MS = 8_000;
const DRAIN_MS = 5_000;
const PAYLOAD = 1024;

interface Round {
  /** CPU µs per broadcast, per contestant of the pair, in PAIR's order. */
  cpu: number[];
}

export async function runSideBySide(rounds: number, log: (line: string) => void): Promise<void> {
  const contestants = PAIR.map((name) => CONTESTANTS.find((c) => c.name === name)!);
  log(`\n## side by side: ${PAIR.join(' and ')}, 1 subscriber each, ${RATE} POSTs/s each`);
  const done: Round[] = [];
  for (let round = 1; round <= rounds; round++) {
    const result = await runRound(contestants);
    done.push(result);
    const [peer, ours] = result.cpu;
    log(
      `  round ${round}/${rounds}: ${PAIR[0]} ${peer.toFixed(0)} µs, ${PAIR[1]} ` +
        `${ours.toFixed(0)} µs per broadcast: ${(ours / peer).toFixed(3)}×`,
    );
  }
  const ratios = done.map(({ cpu: [peer, ours] }) => ours / peer);
  const perContestant = PAIR.map((_, i) => median(done.map((r) => r.cpu[i]))!);
  log(
    `\nCPU per broadcast @ 1 sub, side by side (median of ${rounds} rounds): ` +
      PAIR.map((name, i) => `${name} ${perContestant[i].toFixed(0)} µs`).join(', ') +
      `; ${PAIR[1]} / ${PAIR[0]} ${median(ratios)!.toFixed(3)}× ` +
      `[${Math.min(...ratios).toFixed(3)}×..${Math.max(...ratios).toFixed(3)}×]`,
  );
}

async function runRound(contestants: Contestant[]): Promise<Round> {
  const sessions: BenchSession[] = [];
  try {
    for (const contestant of contestants) sessions.push(await BenchSession.start(contestant));
    await Promise.all(sessions.map((session) => session.subscribers(1)));
    await Promise.all(
      sessions.map((session, i) => afterTurn(i, () => steady(session, WARM_UP_MS, WARM_UP_RATE))),
    );
    const runs = await Promise.all(
      sessions.map((session, i) =>
        metered(session, () => afterTurn(i, () => steady(session, DURATION_MS))),
      ),
    );
    return { cpu: runs.map(cpuPerBroadcast) };
  } finally {
    await Promise.all(sessions.map((session) => session.stop()));
  }
}

/**
 * Starts the i-th contestant's schedule `i / PAIR.length` of a period after the first's, so that
 * their POSTs alternate instead of landing at the same instant and contending for the cores.
 */
async function afterTurn<T>(i: number, start: () => Promise<T>): Promise<T> {
  await sleep((i * 1000) / RATE / PAIR.length);
  return start();
}

function steady(session: BenchSession, durationMs: number, rate = RATE) {
  return session.steady({
    rate,
    durationMs,
    size: PAYLOAD,
    drainMs: DRAIN_MS,
    sample: 1,
  });
}

function cpuPerBroadcast(measured: MeteredRun): number {
  if (!measured.run.complete) {
    throw new Error(
      `side by side: ${measured.run.delivered} of ${measured.run.expected} messages arrived`,
    );
  }
  return measured.cpuMicros / measured.run.broadcasts;
}
