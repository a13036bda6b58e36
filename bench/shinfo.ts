// Benchmark: the port of xen_shinfo_test against the kernel's C test, in the same VM boot (Debian's
// 6.12 kernel in QEMU), the order alternating round by round. Both are timed alike, as whole processes
// from outside (shinfo-in-vm.ts). Under TCG a single run moves by some ±10%, so each ratio is taken
// within a round (the port against the C run of the same round) and the median of those is reported.
//
// Most of C's time is fixed waiting: the two lock-corruption races (2 s each, SHINFO_RACE_TIMEOUT) and
// the timer and poll-timeout stages. Each stage is timed on both sides by its -v line, and the "work"
// figures are the whole process less those stages. The race rate is the EVTCHN_SENDs per second of
// stage 23's racing loop: the port's native IoctlLoop thread against C's main-thread loop, counted for
// C by bench/evtchn_send_count.so (LD_PRELOAD).
//
//   node dist/bench/shinfo.js [ROUNDS]
import path from 'node:path';

import { DEFAULT_KERNEL } from '../lib/debian/kernel';
import { resolveKernel, runInVm } from '../lib/vm';
import { projectRoot } from '../lib/paths';
import { upstreamShinfoTestForGuest } from '../lib/kbuild';
import { buildTool } from './exits';
import { median, medianRatio } from './median';

/** One run of either side, as shinfo-in-vm.ts reports it. */
export interface ShinfoRun {
  wallMs: number;
  /** stdout's lines, each with the time it arrived (ms since the process started). */
  lines: Array<{ ms: number; text: string }>;
  /** EVTCHN_SENDs of the race stage's loop, and how long the loop ran. */
  sends: number;
  sendSeconds: number;
}

/** The stages whose length the test fixes (timers, poll timeouts, the 2 s races), by their -v line. */
export const FIXED_WAIT_STAGES = [
  'Testing guest oneshot timer',
  'Testing restored oneshot timer',
  'Testing SCHEDOP_poll timeout',
  'Testing SCHEDOP_poll wake on masked event',
  'Testing shinfo lock corruption (KVM_XEN_HVM_EVTCHN_SEND)',
  'Testing shinfo lock corruption (SCHEDOP_poll)',
] as const;

export interface ShinfoBench {
  kernel: string;
  rounds: number;
  cMs: number;
  portMs: number;
  /** Median of the rounds' port/C ratios of whole-process wall time. */
  ratio: number;
  /** The fixed-wait stages' total on each side (median). */
  cFixedMs: number;
  portFixedMs: number;
  /** Whole process less the fixed-wait stages. */
  cWorkMs: number;
  portWorkMs: number;
  workRatio: number;
  /** EVTCHN_SENDs per second in the race stage. */
  cSendsPerS: number;
  portSendsPerS: number;
  sendRatio: number;
  /** Runs that failed and were run again (their first lines). */
  failures: string[];
  /** Each stage's median time on both sides, in the C test's order. */
  stages: Array<{ name: string; cMs: number; portMs: number }>;
}

/** A run's stages: from each stage's -v line to the next one (the last to the process's end). */
function stageTimes(run: ShinfoRun): Map<string, number> {
  const marks = run.lines.map((line) => ({ ms: line.ms, name: line.text.replace(/^\s*#\s*/, '') }))
    .filter((line) => /^(Testing|Delivering) /.test(line.name));
  const stages = new Map<string, number>();
  marks.forEach((mark, i) => {
    const end = marks[i + 1]?.ms ?? run.wallMs;
    stages.set(mark.name, (stages.get(mark.name) ?? 0) + end - mark.ms);
  });
  return stages;
}

function fixedMs(run: ShinfoRun): number {
  const stages = stageTimes(run);
  return FIXED_WAIT_STAGES.reduce((sum, name) => {
    const ms = stages.get(name);
    if (ms === undefined) throw new Error(`no "${name}" line in a run's -v output`);
    return sum + ms;
  }, 0);
}

export function summarize(kernel: string, c: readonly ShinfoRun[], ported: readonly ShinfoRun[], failures: readonly string[] = []): ShinfoBench {
  const wall = (runs: readonly ShinfoRun[]): number[] => runs.map((run) => run.wallMs);
  const work = (runs: readonly ShinfoRun[]): number[] => runs.map((run) => run.wallMs - fixedMs(run));
  const rate = (runs: readonly ShinfoRun[]): number[] => runs.map((run) => run.sends / run.sendSeconds);
  const cStages = c.map(stageTimes);
  const portStages = ported.map(stageTimes);
  const stageMedian = (runs: Array<Map<string, number>>, name: string): number => median(runs.map((stages) => stages.get(name) ?? NaN));
  return {
    kernel,
    rounds: c.length,
    cMs: median(wall(c)),
    portMs: median(wall(ported)),
    ratio: medianRatio(wall(ported), wall(c)),
    cFixedMs: median(c.map(fixedMs)),
    portFixedMs: median(ported.map(fixedMs)),
    cWorkMs: median(work(c)),
    portWorkMs: median(work(ported)),
    workRatio: medianRatio(work(ported), work(c)),
    cSendsPerS: median(rate(c)),
    portSendsPerS: median(rate(ported)),
    sendRatio: medianRatio(rate(ported), rate(c)),
    failures: [...failures],
    stages: [...cStages[0]!.keys()].map((name) => ({ name, cMs: stageMedian(cStages, name), portMs: stageMedian(portStages, name) })),
  };
}

export async function benchShinfo(rounds = 4): Promise<ShinfoBench> {
  const kernel = await resolveKernel(DEFAULT_KERNEL);
  if (!kernel.debianVersion) throw new Error('the default kernel should be a Debian one');
  const cTest = await upstreamShinfoTestForGuest(kernel.debianVersion);
  const counter = buildTool('evtchn_send_count.so');
  let output = '';
  const result = await runInVm({
    kernel: DEFAULT_KERNEL,
    command: [process.execPath, path.join(projectRoot, 'dist', 'bench', 'shinfo-in-vm.js'), cTest, String(rounds), counter],
    output: { write: (chunk) => { output += chunk.toString(); } },
    errorOutput: process.stderr,
  });
  if (result.status !== 0) throw new Error(`the benchmark run failed (${result.message || `status ${result.status}`}):\n${output}`);
  const { c, ported, failures } = JSON.parse(output.trim().split('\n').pop()!) as { c: ShinfoRun[]; ported: ShinfoRun[]; failures: string[] };
  return summarize(kernel.description, c, ported, failures);
}

export function formatShinfoBench(b: ShinfoBench): string {
  const row = (name: string, c: number, port: number): string => `  ${name.padEnd(62)} ${c.toFixed(0).padStart(7)} ${port.toFixed(0).padStart(7)}`;
  return [
    `xen_shinfo_test, ${b.kernel} in QEMU, median of ${b.rounds} runs each in one boot, order alternating;`,
    'each process timed whole from outside; ratios: the median of the rounds\' ratios',
    `  upstream C test              ${b.cMs.toFixed(0).padStart(7)} ms`,
    `  port                         ${b.portMs.toFixed(0).padStart(7)} ms   ${b.ratio.toFixed(2)}x of C`,
    `  fixed waits, C / port        ${b.cFixedMs.toFixed(0).padStart(7)} / ${b.portFixedMs.toFixed(0)} ms`,
    `  work (less fixed waits), C   ${b.cWorkMs.toFixed(0).padStart(7)} ms`,
    `  work (less fixed waits), port${b.portWorkMs.toFixed(0).padStart(7)} ms   ${b.workRatio.toFixed(2)}x of C (goal <= 1.5x)`,
    `  race stage EVTCHN_SEND, C    ${b.cSendsPerS.toFixed(0).padStart(7)} /s`,
    `  race stage EVTCHN_SEND, port ${b.portSendsPerS.toFixed(0).padStart(7)} /s   ${b.sendRatio.toFixed(2)}x of C (goal >= 0.5x)`,
    `  stage (median ms)${' '.repeat(47)}      C    port`,
    ...b.stages.map((stage) => row(stage.name, stage.cMs, stage.portMs)),
    ...b.failures.map((failure) => `  a run failed and was run again: ${failure}`),
  ].join('\n');
}

if (require.main === module) {
  benchShinfo(Number(process.argv[2] ?? 4)).then((b) => process.stdout.write(`${formatShinfoBench(b)}\n`), (error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  });
}
