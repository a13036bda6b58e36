// Benchmark: the port of xen_shinfo_test against the kernel's C test, in the same VM boot (Debian's
// 6.12 kernel in QEMU), the order alternating round by round. Both are timed alike, as whole processes
// from outside (shinfo-in-vm.ts). Under TCG a single run moves by some ±10%, so each ratio is taken
// within a round (the port against the C run of the same round) and the median of those is reported.
//
// Most of C's time is fixed waiting, the same on both sides by the test's design: the send race (its
// loop's length measured on both sides by bench/evtchn_send_count.so, LD_PRELOAD), the poll race (a
// timer SHINFO_RACE_TIMEOUT ahead) and four stages that wait out a TIMER_DELTA timer or poll timeout
// (oneshot timer, restored timer, SCHEDOP_poll timeout, poll woken by the timer). The "work" figures
// are the whole process less those waits, and for the port also less Node's bare start-up (`node -e 0`,
// timed next to it in each round): the cost of the runtime itself in this guest, which C's side has no
// counterpart of and no code of ours can cut (see the README). The race rate is the EVTCHN_SENDs per second of stage 23's
// loop: the port's native IoctlLoop thread against C's main-thread loop, counted by the same shim.
//
//   node dist/bench/shinfo.js [ROUNDS] [--host]
//
// --host runs both programs on this host's own /dev/kvm instead, for a host whose KVM has the Xen
// emulation (an x86 machine, not this project's PVM one): there the comparison has no TCG under it,
// which on this machine slows V8's fresh machine code far more than C's (README, Benchmarks).
import { execFileSync, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

import { DEFAULT_KERNEL } from '../lib/debian/kernel';
import { Kvm, type XenHvmCaps, type XenHvmFlag } from '../lib/kvm';
import { resolveKernel, runInVm } from '../lib/vm';
import { projectRoot } from '../lib/paths';
import { upstreamShinfoTestForGuest } from '../lib/kbuild';
import { buildTool } from './exits';
import { median, medianRatio } from './median';
import { SHINFO_RACE_TIMEOUT_S, TIMER_DELTA_NS } from '../selftests/xen_shinfo/constants';

/** One run of either side, as shinfo-in-vm.ts reports it. */
export interface ShinfoRun {
  wallMs: number;
  /** EVTCHN_SENDs of the race stage's loop, and how long the loop ran. */
  sends: number;
  sendSeconds: number;
}

/** The waits besides the send race that the test fixes, in ms: the poll race's timer, and four timer stages. */
export const OTHER_FIXED_WAITS_MS = SHINFO_RACE_TIMEOUT_S * 1000 + 4 * Number(TIMER_DELTA_NS / 1_000_000n);

export interface ShinfoBench {
  /** Where both programs ran: Debian's kernel in QEMU, or this host's KVM (--host). */
  kernel: string;
  rounds: number;
  cMs: number;
  portMs: number;
  /** Median of the rounds' port/C ratios of whole-process wall time. */
  ratio: number;
  /** The send race's loop on each side (median), the measured part of the fixed waits. */
  cRaceMs: number;
  portRaceMs: number;
  /** Whole process less the fixed waits. */
  cWorkMs: number;
  portWorkMs: number;
  workRatio: number;
  /** `node -e 0` in the same rounds (median), and the port's work less it, round by round. */
  bareNodeMs: number;
  portWorkLessNodeMs: number;
  workLessNodeRatio: number;
  /** EVTCHN_SENDs per second in the race stage. */
  cSendsPerS: number;
  portSendsPerS: number;
  sendRatio: number;
  /** Runs that failed and were run again (their first lines). */
  failures: string[];
}

export function summarize(
  kernel: string, c: readonly ShinfoRun[], ported: readonly ShinfoRun[], bareNodeMs: readonly number[], failures: readonly string[] = [],
): ShinfoBench {
  if (bareNodeMs.length !== ported.length) throw new RangeError(`one bare Node start-up per port run: ${bareNodeMs.length} for ${ported.length}`);
  const wall = (runs: readonly ShinfoRun[]): number[] => runs.map((run) => run.wallMs);
  const work = (runs: readonly ShinfoRun[]): number[] => runs.map((run) => run.wallMs - run.sendSeconds * 1000 - OTHER_FIXED_WAITS_MS);
  const portLessNode = work(ported).map((ms, round) => ms - bareNodeMs[round]!);
  const rate = (runs: readonly ShinfoRun[]): number[] => runs.map((run) => run.sends / run.sendSeconds);
  const race = (runs: readonly ShinfoRun[]): number => median(runs.map((run) => run.sendSeconds * 1000));
  return {
    kernel,
    rounds: c.length,
    cMs: median(wall(c)),
    portMs: median(wall(ported)),
    ratio: medianRatio(wall(ported), wall(c)),
    cRaceMs: race(c),
    portRaceMs: race(ported),
    cWorkMs: median(work(c)),
    portWorkMs: median(work(ported)),
    workRatio: medianRatio(work(ported), work(c)),
    bareNodeMs: median([...bareNodeMs]),
    portWorkLessNodeMs: median(portLessNode),
    workLessNodeRatio: medianRatio(portLessNode, work(c)),
    cSendsPerS: median(rate(c)),
    portSendsPerS: median(rate(ported)),
    sendRatio: medianRatio(rate(ported), rate(c)),
    failures: [...failures],
  };
}

/** The KVM_CAP_XEN_HVM flags the whole test needs (its stages skip from the first one missing) that `caps` lacks. */
export function xenFlagsLacking(caps: XenHvmCaps): XenHvmFlag[] {
  return (['SHARED_INFO', 'RUNSTATE', 'EVTCHN_SEND'] as const).filter((flag) => !caps.has(flag));
}

/** On --host both programs would only skip (C's exit 4): say why before anything is built. */
export function checkHostHasXen(caps: XenHvmCaps): void {
  const lacking = xenFlagsLacking(caps);
  if (lacking.length) throw new Error(`--host: this host's KVM_CAP_XEN_HVM (${caps.raw === 0 ? '0: no Xen emulation' : `0x${caps.raw.toString(16)}`}) lacks ${lacking.join(', ')}; run the benchmark without --host, in the VM`);
}

export async function benchShinfo(rounds = 4, where: 'vm' | 'host' = 'vm'): Promise<ShinfoBench> {
  if (where === 'host') {
    using kvm = Kvm.open();
    checkHostHasXen(kvm.xenHvmCaps());
  }
  const kernel = await resolveKernel(DEFAULT_KERNEL);
  if (!kernel.debianVersion) throw new Error('the default kernel should be a Debian one');
  const cTest = await upstreamShinfoTestForGuest(kernel.debianVersion);
  const counter = buildTool('evtchn_send_count.so');
  // The port as the build leaves it: with its start-up pack fresh (selftests/lib/pack.ts).
  execFileSync(process.execPath, [path.join(projectRoot, 'dist', 'selftests', 'lib', 'pack.js')], { stdio: 'inherit' });
  const command = [process.execPath, path.join(projectRoot, 'dist', 'bench', 'shinfo-in-vm.js'), cTest, String(rounds), counter];
  let output = '';
  let failed: string | undefined;
  if (where === 'host') {
    const run = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    output = run.stdout;
    if (run.status !== 0) failed = `status ${run.status}`;
  } else {
    const result = await runInVm({ kernel: DEFAULT_KERNEL, command, output: { write: (chunk) => { output += chunk.toString(); } }, errorOutput: process.stderr });
    if (result.status !== 0) failed = result.message || `status ${result.status}`;
  }
  if (failed) throw new Error(`the benchmark run failed (${failed}):\n${output}`);
  const { c, ported, bareNode, failures } = JSON.parse(output.trim().split('\n').pop()!) as {
    c: ShinfoRun[]; ported: ShinfoRun[]; bareNode: number[]; failures: string[];
  };
  const kernelUsed = where === 'host' ? `this host's KVM (Linux ${os.release()}, no VM)` : `${kernel.description} in QEMU`;
  return summarize(kernelUsed, c, ported, bareNode, failures);
}

export function formatShinfoBench(b: ShinfoBench): string {
  return [
    `xen_shinfo_test on ${b.kernel}, median of ${b.rounds} runs each, order alternating;`,
    'each process timed whole from outside; ratios: the median of the rounds\' ratios',
    `  upstream C test                 ${b.cMs.toFixed(0).padStart(7)} ms`,
    `  port                            ${b.portMs.toFixed(0).padStart(7)} ms   ${b.ratio.toFixed(2)}x of C`,
    `  fixed waits: send race C / port ${b.cRaceMs.toFixed(0).padStart(7)} / ${b.portRaceMs.toFixed(0)} ms, + ${OTHER_FIXED_WAITS_MS} ms of timers each`,
    `  work (less fixed waits), C      ${b.cWorkMs.toFixed(0).padStart(7)} ms`,
    `  work (less fixed waits), port   ${b.portWorkMs.toFixed(0).padStart(7)} ms   ${b.workRatio.toFixed(2)}x of C (Node's start-up included)`,
    `  Node's bare start-up (node -e 0) ${b.bareNodeMs.toFixed(0).padStart(6)} ms`,
    `  work, port less Node's start-up ${b.portWorkLessNodeMs.toFixed(0).padStart(7)} ms   ${b.workLessNodeRatio.toFixed(2)}x of C (goal <= 1.5x)`,
    `  race stage EVTCHN_SEND, C       ${b.cSendsPerS.toFixed(0).padStart(7)} /s`,
    `  race stage EVTCHN_SEND, port    ${b.portSendsPerS.toFixed(0).padStart(7)} /s   ${b.sendRatio.toFixed(2)}x of C (goal >= 0.5x)`,
    ...b.failures.map((failure) => `  a run failed and was run again: ${failure}`),
  ].join('\n');
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const rounds = args.find((arg) => /^\d+$/.test(arg));
  benchShinfo(rounds ? Number(rounds) : undefined, args.includes('--host') ? 'host' : 'vm').then((b) => process.stdout.write(`${formatShinfoBench(b)}\n`), (error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  });
}
