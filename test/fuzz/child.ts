// The fuzz test's child process: `calls` seeded random calls (test/fuzz/actions.ts) into the library and
// straight into the addon. Any call may throw; the process must not crash, hang or leave a promise
// unsettled. Event-loop turns and garbage collections are mixed in, so results of async runs and the
// addon's finalizers land in the middle of it all.
//
// usage: node --expose-gc child.js <seed> <calls> [--crash-after N]
//   --crash-after N: kill itself with SIGSEGV before call N (the parent's proof that a crash shows)
//   FUZZ_TRACE=1 in the environment: each call's number and action on stderr, written before the call
// Prints one JSON line, a FuzzReport.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import { actions } from './actions';
import { Random } from './random';
import { World } from './world';

export interface FuzzReport {
  seed: number;
  calls: number;
  threw: number;
  worked: number;
  /** Thrown errors by name and code, e.g. "RangeError ERR_OUT_OF_RANGE": how the calls were refused. */
  errors: Record<string, number>;
  /** Promises the library returned: how they settled, and how many never did. */
  promises: { resolved: number; rejected: number; unsettled: number };
  ms: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
const SETTLE_LIMIT_MS = 5000;

function errorKey(error: unknown): string {
  if (!(error instanceof Error)) return `non-Error ${typeof error}`;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `${error.name} ${code}` : error.name;
}

async function main(): Promise<void> {
  const seed = Number(process.argv[2] ?? 1);
  const calls = Number(process.argv[3] ?? 1000);
  const crashAt = process.argv.indexOf('--crash-after');
  const crashAfter = crashAt > 0 ? Number(process.argv[crashAt + 1]) : -1;
  const random = new Random(seed);
  const world = new World(random);
  const totalWeight = actions.reduce((sum, [weight]) => sum + weight, 0);
  const pickAction = (): (typeof actions)[number] => {
    let roll = random.next() * totalWeight;
    for (const entry of actions) {
      roll -= entry[0];
      if (roll < 0) return entry;
    }
    return actions[actions.length - 1]!;
  };
  const trace = process.env['FUZZ_TRACE'] === '1';

  const report: FuzzReport = { seed, calls, threw: 0, worked: 0, errors: {}, promises: { resolved: 0, rejected: 0, unsettled: 0 }, ms: 0 };
  const started = performance.now();
  for (let i = 0; i < calls; i++) {
    if (i === crashAfter) process.kill(process.pid, 'SIGSEGV');
    const [, name, action] = pickAction();
    // Synchronous, so that the last line before a crash names the call that crashed.
    if (trace) fs.writeSync(2, `${i} ${name}\n`);
    try {
      action(world);
      report.worked++;
    } catch (error) {
      report.threw++;
      const key = errorKey(error);
      report.errors[key] = (report.errors[key] ?? 0) + 1;
    }
    if (i % 64 === 63) await new Promise((resolve) => setImmediate(resolve));
    // Racing ioctl threads keep a CPU busy: none lives long.
    if (i % 200 === 199) world.loops.drain().forEach((loop) => loop.stop());
    if (i % 500 === 499) gc?.();
  }
  world.closeAll();

  const everything = Promise.all(world.pending).then(() => true);
  // The time limit's timer is cancelled once everything has settled, so it does not hold the process.
  const limit = new AbortController();
  const settledInTime = await Promise.race([everything, sleep(SETTLE_LIMIT_MS, false, { signal: limit.signal }).catch(() => false)]);
  limit.abort();
  report.promises = { ...world.settled, unsettled: settledInTime ? 0 : world.pending.length - world.settled.resolved - world.settled.rejected };
  gc?.();
  await new Promise((resolve) => setImmediate(resolve));
  report.ms = Math.round(performance.now() - started);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`fuzz child: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
