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
export const BENCH_PORT = 0x10;
const PROGRAM = 'pio_loop';

/** The goals of issue 2, as fractions of C's rate. */
export const exitGoals = { sync: 0.9, async: 0.75 } as const;

/** Who runs the loop: the C host (KVM_RUN on its own thread, or handed to a second one) or the library. */
export type LoopHost = 'c' | 'cThread' | 'sync' | 'async';

/** One run of the loop: the guest does `guestIterations` OUTs, the host must count `exits` of them. */
export interface LoopRun {
  guestIterations: number;
  /** The benchmark exits the host must see (more than guestIterations when a shim adds exits). */
  exits: number;
}

/** A tool of the Makefile's `tools` target, built if it is not there yet. */
export function buildTool(name: string): string {
  const tool = path.join(projectRoot, 'build', 'tools', name);
  if (!fs.existsSync(tool)) {
    const make = spawnSync('make', ['-s', path.relative(projectRoot, tool)], { cwd: projectRoot, encoding: 'utf8' });
    if (make.status !== 0) throw new Error(`building ${tool} failed: ${make.stderr || make.error?.message}`);
  }
  return tool;
}

/** The time a host took for a run's exits: wall, and CPU of all its threads (what a busy machine does not inflate). */
export interface LoopTime {
  seconds: number;
  cpuSeconds: number;
}

function runC(run: LoopRun, mode: 'direct' | 'thread'): LoopTime {
  const host = buildTool('pio_host');
  const child = spawnSync(host, [guestProgramPath(PROGRAM), String(run.guestIterations), mode], { encoding: 'utf8' });
  const [exits, seconds, cpuSeconds] = child.stdout.trim().split(/\s+/).map(Number);
  if (child.status !== 0 || exits !== run.exits || !seconds || cpuSeconds === undefined) {
    throw new Error(`the C host failed (status ${child.status}): ${child.stderr.trim() || child.stdout.trim()}`);
  }
  return { seconds, cpuSeconds };
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

/** The clocks of a library run, read before its first exit. */
interface Started {
  wall: number;
  cpu: NodeJS.CpuUsage;
}

const start = (): Started => ({ cpu: process.cpuUsage(), wall: performance.now() });

function finish(machine: GuestMachine, exits: number, run: LoopRun, started: Started): LoopTime {
  const seconds = (performance.now() - started.wall) / 1000;
  const cpu = process.cpuUsage(started.cpu);
  machine.close();
  if (exits !== run.exits) throw new Error(`counted ${exits} exits, expected ${run.exits}`);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

function runSync(kvm: Kvm, run: LoopRun): LoopTime {
  const machine = loopMachine(kvm, run.guestIterations);
  const vcpu = machine.vcpu;
  let exits = 0;
  const started = start();
  while (isBenchExit(machine, vcpu.runSync())) exits++;
  return finish(machine, exits, run, started);
}

async function runAsync(kvm: Kvm, run: LoopRun): Promise<LoopTime> {
  const machine = loopMachine(kvm, run.guestIterations);
  const vcpu = machine.vcpu;
  let exits = 0;
  const started = start();
  while (isBenchExit(machine, await vcpu.runAsync())) exits++;
  return finish(machine, exits, run, started);
}

/** The time one host took for the run's exits, from the first KVM_RUN to the guest's GUEST_DONE. */
export async function runLoop(kvm: Kvm, host: LoopHost, run: LoopRun): Promise<LoopTime> {
  switch (host) {
    case 'c': return runC(run, 'direct');
    case 'cThread': return runC(run, 'thread');
    case 'sync': return runSync(kvm, run);
    case 'async': return runAsync(kvm, run);
  }
}

/** The library's warm-up, unmeasured: JIT compilation of the run path, the vCPU thread's first start. */
export async function warmUp(kvm: Kvm, run: LoopRun): Promise<void> {
  runSync(kvm, run);
  await runAsync(kvm, run);
}

type Host = keyof ExitBench['samples'] & LoopHost;
const HOSTS: readonly Host[] = ['c', 'sync', 'async'];

export async function benchExits(rounds = 9, iterations = 100000): Promise<ExitBench> {
  const kvm = Kvm.open();
  try {
    const warm = Math.max(1, Math.floor(iterations / 10));
    await warmUp(kvm, { guestIterations: warm, exits: warm });
    const samples: ExitBench['samples'] = { c: [], sync: [], async: [] };
    const run = async (host: Host): Promise<number> => iterations / (await runLoop(kvm, host, { guestIterations: iterations, exits: iterations })).seconds;
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
