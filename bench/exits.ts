// Benchmark: PIO exits per second. The same guest loop (bench/guests/pio_loop.c: `iterations` OUTs to
// one port, then GUEST_DONE) driven by a plain C host (bench/pio_host.c) and by the library, with
// vcpu.runSync() and with await vcpu.runAsync(); the three interleaved over several rounds, each round
// in another order, so that a busy machine slows them alike. The shared host moves a single run by
// some ±5%, so a ratio is taken within each round (the library against the C run next to it) and the
// median of those is reported, beside the median rates.
//
//   node dist/bench/exits.js [ROUNDS] [ITERATIONS]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { GuestMachine, UCALL_PORT, UnexpectedExitError } from '../lib/guest';
import { Kvm, type VcpuExit } from '../lib/kvm';
import { guestProgramPath, projectRoot } from '../lib/paths';
import { median, roundRatios } from './median';

export interface ExitBench {
  rounds: number;
  iterations: number;
  /** Exits per second, the median of the rounds. */
  c: number;
  sync: number;
  async: number;
  /** The median over the rounds of each round's library rate divided by its C rate. */
  ratio: { sync: number; async: number };
  /** Each round's ratios, in order. */
  roundRatios: { sync: number[]; async: number[] };
  /** Every round's exits per second, in order. */
  samples: { c: number[]; sync: number[]; async: number[] };
}

/** bench/guests/pio_loop.c's port. */
const BENCH_PORT = 0x10;
const PROGRAM = 'pio_loop';
const C_HOST = path.join(projectRoot, 'build', 'tools', 'pio_host');
/** The goals of issue 2, as fractions of C's rate. */
export const exitGoals = { sync: 0.9, async: 0.75 } as const;

/** The C host, built by the Makefile's rule if it is not there yet. */
function cHost(): string {
  if (!fs.existsSync(C_HOST)) {
    const make = spawnSync('make', ['-s', path.relative(projectRoot, C_HOST)], { cwd: projectRoot, encoding: 'utf8' });
    if (make.status !== 0) throw new Error(`building ${C_HOST} failed: ${make.stderr || make.error?.message}`);
  }
  return C_HOST;
}

function runC(iterations: number): number {
  const run = spawnSync(cHost(), [guestProgramPath(PROGRAM), String(iterations)], { encoding: 'utf8' });
  const [exits, seconds] = run.stdout.trim().split(/\s+/).map(Number);
  if (run.status !== 0 || exits !== iterations || !seconds) {
    throw new Error(`the C host failed (status ${run.status}): ${run.stderr.trim() || run.stdout.trim()}`);
  }
  return exits / seconds;
}

function loopMachine(kvm: Kvm, iterations: number): GuestMachine {
  // No in-kernel irqchip, as in the C host.
  const machine = GuestMachine.create(kvm, { program: PROGRAM, irqchip: false });
  machine.memory.write64(machine.symbol('iterations'), BigInt(iterations));
  return machine;
}

/** Counts a benchmark exit (true), or sees the guest's GUEST_DONE (false); anything else throws. */
function isBenchExit(machine: GuestMachine, exit: VcpuExit): boolean {
  if (exit.reason === 'io' && exit.port === BENCH_PORT) return true;
  if (exit.reason === 'io' && exit.port === UCALL_PORT && machine.ucallOf(exit)?.cmd === 'done') return false;
  throw new UnexpectedExitError(exit, 'benchmarking PIO exits');
}

function finish(machine: GuestMachine, exits: number, iterations: number, started: number): number {
  const seconds = (performance.now() - started) / 1000;
  machine.close();
  if (exits !== iterations) throw new Error(`counted ${exits} exits, expected ${iterations}`);
  return exits / seconds;
}

function runSync(kvm: Kvm, iterations: number): number {
  const machine = loopMachine(kvm, iterations);
  const vcpu = machine.vcpu;
  let exits = 0;
  const started = performance.now();
  while (isBenchExit(machine, vcpu.runSync())) exits++;
  return finish(machine, exits, iterations, started);
}

async function runAsync(kvm: Kvm, iterations: number): Promise<number> {
  const machine = loopMachine(kvm, iterations);
  const vcpu = machine.vcpu;
  let exits = 0;
  const started = performance.now();
  while (isBenchExit(machine, await vcpu.runAsync())) exits++;
  return finish(machine, exits, iterations, started);
}

type Host = keyof ExitBench['samples'];
const HOSTS: readonly Host[] = ['c', 'sync', 'async'];

export async function benchExits(rounds = 9, iterations = 100000): Promise<ExitBench> {
  const kvm = Kvm.open();
  try {
    // Warm-up, unmeasured: JIT compilation of the run path, the vCPU thread's first start.
    runSync(kvm, iterations / 10);
    await runAsync(kvm, iterations / 10);
    const samples: ExitBench['samples'] = { c: [], sync: [], async: [] };
    const run = (host: Host): number | Promise<number> =>
      host === 'c' ? runC(iterations) : host === 'sync' ? runSync(kvm, iterations) : runAsync(kvm, iterations);
    for (let round = 0; round < rounds; round++) {
      // Round r starts with host r mod 3: each runs first, middle and last equally often.
      for (let i = 0; i < HOSTS.length; i++) {
        const host = HOSTS[(round + i) % HOSTS.length]!;
        samples[host].push(await run(host));
      }
    }
    const ratios = { sync: roundRatios(samples.sync, samples.c), async: roundRatios(samples.async, samples.c) };
    return {
      rounds, iterations, c: median(samples.c), sync: median(samples.sync), async: median(samples.async),
      ratio: { sync: median(ratios.sync), async: median(ratios.async) }, roundRatios: ratios, samples,
    };
  } finally {
    kvm.close();
  }
}

export function formatExitBench(b: ExitBench): string {
  const rate = (value: number): string => Math.round(value).toLocaleString('en-US').padStart(9);
  const line = (label: string, value: number, ratio = 1, goal?: number, rounds: number[] = []): string => {
    const spread = rounds.length > 1 ? ` (rounds ${Math.min(...rounds).toFixed(2)}-${Math.max(...rounds).toFixed(2)})` : '';
    const verdict = goal === undefined ? '' : `   goal >= ${goal.toFixed(2)}x: ${ratio >= goal ? 'met' : 'MISSED'}${spread}`;
    return `  ${label.padEnd(31)} ${rate(value)}   ${ratio.toFixed(2)}x${verdict}`;
  };
  return [
    `PIO exits per second, median of ${b.rounds} interleaved rounds of ${b.iterations.toLocaleString('en-US')} exits (bench/guests/pio_loop.c);`,
    'of C: the median of the rounds\' ratios to the C run of the same round',
    `  ${'host'.padEnd(31)} ${'exits/s'.padStart(9)}   of C`,
    line('C (bench/pio_host.c)', b.c),
    line('library, vcpu.runSync()', b.sync, b.ratio.sync, exitGoals.sync, b.roundRatios.sync),
    line('library, await vcpu.runAsync()', b.async, b.ratio.async, exitGoals.async, b.roundRatios.async),
  ].join('\n');
}

if (require.main === module) {
  const rounds = Number(process.argv[2] ?? 9);
  const iterations = Number(process.argv[3] ?? 100000);
  benchExits(rounds, iterations).then((b) => process.stdout.write(`${formatExitBench(b)}\n`), (error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  });
}
