// `npm run bench`: every benchmark in one command, one table of figures and ratios, with the date and
// the machine. Each benchmark measures its baseline in the same run (C host, the kernel's C test, the
// bare QEMU recipe), so the ratios hold on a busy machine too.
//
//   npm run bench -- [--json FILE] [--quick] [--only NAME,...]
//
// --json FILE: every figure of the table also as JSON (name, value, unit, ratio, goal), for scripts.
// --quick: the fewest rounds and exits each benchmark takes — shows it all works, measures nothing.
// --only: some of the benchmarks: exits, exit-cost, shinfo, vm-boot, vmm-boot, hot-swap.
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';

import { resolveAccel } from '../lib/vm/qemu';
import { benchExitCost, ownCostGoalsUs } from './exit-cost';
import { benchExits, exitGoals } from './exits';
import { benchHotSwap } from './hot-swap';
import { benchShinfo } from './shinfo';
import { benchVmBoot } from './vm-boot';
import { benchVmmBoot } from './vmm-boot';

/** A goal: `value` or `ratio` (per `on`) compared with `target`. */
export interface Goal {
  on: 'value' | 'ratio';
  compare: '>=' | '<=';
  target: number;
}

/** One figure of the table. */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** Against the baseline of the same benchmark and run (1 for the baseline itself); null: none. */
  ratio: number | null;
  /** What the ratio is of ('C', 'bare'); null with no ratio. */
  ratioOf: string | null;
  /** 'baseline', a Goal, or null (a figure shown for information). */
  goal: Goal | 'baseline' | null;
  /** Whether the goal is met; null without one. */
  met: boolean | null;
}

export interface BenchReport {
  date: string;
  machine: string;
  quick: boolean;
  figures: Figure[];
}

export const BENCHMARKS = ['exits', 'exit-cost', 'shinfo', 'vm-boot', 'vmm-boot', 'hot-swap'] as const;
type Benchmark = typeof BENCHMARKS[number];

function figure(name: string, value: number, unit: string, ratio: number | null = null, ratioOf: string | null = null,
  goal: Goal | 'baseline' | null = null): Figure {
  let met: boolean | null = null;
  if (goal !== null && goal !== 'baseline') {
    const measured = goal.on === 'ratio' ? ratio ?? NaN : value;
    met = goal.compare === '>=' ? measured >= goal.target : measured <= goal.target;
  }
  return { name, value, unit, ratio, ratioOf, goal, met };
}

const baseline = (name: string, value: number, unit: string): Figure => figure(name, value, unit, 1, null, 'baseline');

async function exitFigures(quick: boolean): Promise<Figure[]> {
  const exits = quick ? await benchExits(1, 2000) : await benchExits();
  const n = exits.iterations.toLocaleString('en-US');
  return [
    baseline(`PIO exits (${n}), C host`, exits.c, 'exits/s'),
    figure('PIO exits, library runSync()', exits.sync, 'exits/s', exits.ratio.sync, 'C', { on: 'ratio', compare: '>=', target: exitGoals.sync }),
    figure('PIO exits, library runAsync()', exits.async, 'exits/s', exits.ratio.async, 'C', { on: 'ratio', compare: '>=', target: exitGoals.async }),
  ];
}

function exitCostFigures(quick: boolean): Figure[] {
  const cost = quick ? benchExitCost(1, 3000, 300) : benchExitCost();
  const own = (host: 'sync' | 'async'): Goal => ({ on: 'value', compare: '<=', target: ownCostGoalsUs[host] });
  return [
    baseline('KVM_RUN stubbed, C host', cost.stubbed.c.us, 'µs/exit'),
    figure('KVM_RUN stubbed, C host, second thread', cost.stubbed.cThread.us, 'µs/exit', cost.stubbed.cThread.us / cost.stubbed.c.us, 'C'),
    figure('KVM_RUN stubbed, runSync() own cost', cost.stubbed.sync.overCUs, 'µs/exit', null, null, own('sync')),
    figure('KVM_RUN stubbed, runAsync() own cost', cost.stubbed.async.overCUs, 'µs/exit', null, null, own('async')),
    figure('KVM_RUN stubbed, runSync() own CPU', cost.stubbed.sync.cpuUs - cost.stubbed.c.cpuUs, 'µs/exit'),
    figure('KVM_RUN stubbed, runAsync() own CPU', cost.stubbed.async.cpuUs - cost.stubbed.c.cpuUs, 'µs/exit'),
    figure('real KVM_RUN, inside the kernel', cost.real.c.kernelUs, 'µs/run'),
    figure('real KVM_RUN, runSync() own cost', cost.real.sync.overCUs, 'µs/exit'),
    figure('real KVM_RUN, runAsync() own cost', cost.real.async.overCUs, 'µs/exit'),
  ];
}

async function shinfoFigures(quick: boolean): Promise<{ figures: Figure[]; kernel: string }> {
  const shinfo = await benchShinfo(quick ? 1 : undefined);
  return {
    kernel: shinfo.kernel,
    figures: [
      baseline('xen_shinfo_test, kernel\'s C test (whole process)', shinfo.cMs / 1000, 's'),
      figure('xen_shinfo_test, port (whole process)', shinfo.portMs / 1000, 's', shinfo.ratio, 'C', { on: 'ratio', compare: '<=', target: 1.25 }),
      baseline('xen_shinfo_test, C, less fixed waits', shinfo.cWorkMs / 1000, 's'),
      figure('xen_shinfo_test, port, less fixed waits', shinfo.portWorkMs / 1000, 's', shinfo.workRatio, 'C'),
      figure('Node\'s bare start-up in the VM (node -e 0)', shinfo.bareNodeMs / 1000, 's'),
      figure('xen_shinfo_test, port, less fixed waits and Node start', shinfo.portWorkLessNodeMs / 1000, 's', shinfo.workLessNodeRatio, 'C', { on: 'ratio', compare: '<=', target: 1.5 }),
      baseline('stage 23 race, C EVTCHN_SEND loop', shinfo.cSendsPerS, 'sends/s'),
      figure('stage 23 race, port EVTCHN_SEND loop', shinfo.portSendsPerS, 'sends/s', shinfo.sendRatio, 'C', { on: 'ratio', compare: '>=', target: 0.5 }),
    ],
  };
}

async function bootFigures(quick: boolean): Promise<Figure[]> {
  const boot = await benchVmBoot(quick ? 1 : undefined);
  return [
    baseline('VM boot, bare QEMU recipe', boot.bareMs / 1000, 's'),
    ...boot.levers.map((lever) => figure(`VM boot, bare ${lever.name}`, lever.ms / 1000, 's', lever.ratio, 'bare')),
    figure('VM boot, kvm-xen vm --no-snapshot -- true (a boot)', boot.runnerBootMs / 1000, 's', boot.bootRatio, 'bare'),
    figure('VM boot, kvm-xen vm -- true (the default: a warm start)', boot.runnerMs / 1000, 's', boot.ratio, 'bare', { on: 'ratio', compare: '<=', target: 0.7 }),
    figure('VM boot, kvm-xen vm -- true (the saving boot, once)', boot.runnerSaveMs / 1000, 's'),
    figure('VM boot, kvm-xen vm -- true (cold cache)', boot.runnerColdMs / 1000, 's'),
  ];
}

async function vmmBootFigures(quick: boolean): Promise<Figure[]> {
  const vmm = await benchVmmBoot(quick ? 1 : undefined);
  return [
    baseline('Linux boot in the VM, QEMU -accel kvm', vmm.qemuMs / 1000, 's'),
    figure('Linux boot in the VM, lib/vmm', vmm.vmmMs / 1000, 's', vmm.ratio, 'QEMU', { on: 'ratio', compare: '<=', target: 1.0 }),
    figure('Linux boot in the VM, lib/vmm --xen', vmm.xenMs / 1000, 's', vmm.xenRatio, 'lib/vmm'),
  ];
}

async function hotSwapFigures(quick: boolean): Promise<Figure[]> {
  const swap = await benchHotSwap(quick ? 1 : undefined);
  return [
    baseline('patch edit to verdict, build-kvm + test --vm', swap.todayMs / 1000, 's'),
    figure('patch edit to verdict, build-kvm alone', swap.todayBuildMs / 1000, 's', swap.todayBuildMs / swap.todayMs, 'today'),
    figure('patch edit to verdict, test --vm --watch', swap.watchMs / 1000, 's', swap.ratio, 'today', { on: 'ratio', compare: '<=', target: 0.3 }),
  ];
}

function formatValue(f: Figure): string {
  if (f.unit === 'sends/s') return `${Math.round(f.value).toLocaleString('en-US')} sends/s`;
  if (f.unit === 'exits/s') return `${Math.round(f.value).toLocaleString('en-US')} exits/s`;
  if (f.unit === 's') return `${f.value.toFixed(2)} s`;
  return `${f.value.toFixed(3)} ${f.unit}`;
}

function formatGoal(f: Figure): string {
  if (f.goal === null) return '-';
  if (f.goal === 'baseline') return 'baseline';
  const target = f.goal.on === 'ratio' ? `${f.goal.target}x` : `${f.goal.target} ${f.unit}`;
  return `${f.goal.compare} ${target}${f.met ? '' : ' MISSED'}`;
}

function table(figures: readonly Figure[]): string {
  const headers = ['benchmark', 'result', 'ratio', 'goal'];
  const rows = figures.map((f) => [
    f.name, formatValue(f), f.ratio === null ? '-' : `${f.ratio.toFixed(2)}x${f.ratioOf ? ` of ${f.ratioOf}` : ''}`, formatGoal(f),
  ]);
  const widths = headers.map((_, i) => Math.max(...[headers, ...rows].map((row) => row[i]!.length)));
  const line = (row: readonly string[]): string => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function usageError(message: string): void {
  process.stderr.write(`bench: ${message}\nusage: npm run bench -- [--json FILE] [--quick] [--only ${BENCHMARKS.join(',')}]\n`);
  process.exitCode = 64;
}

async function main(): Promise<void> {
  let values: { json?: string; quick?: boolean; only?: string };
  try {
    ({ values } = parseArgs({ options: { json: { type: 'string' }, quick: { type: 'boolean' }, only: { type: 'string' } } }));
  } catch (error) {
    usageError((error as Error).message);
    return;
  }
  const only = values.only === undefined ? [...BENCHMARKS] : values.only.split(',');
  const unknown = only.filter((name) => !(BENCHMARKS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    usageError(`unknown benchmark ${unknown.join(', ')}`);
    return;
  }
  const wanted = (name: Benchmark): boolean => only.includes(name);
  const quick = values.quick ?? false;
  const started = new Date();
  const figures: Figure[] = [];
  let kernel: string | undefined;
  if (wanted('exits')) {
    process.stderr.write('bench: exits (C host, runSync, runAsync)...\n');
    figures.push(...await exitFigures(quick));
  }
  if (wanted('exit-cost')) {
    process.stderr.write('bench: exit cost, KVM_RUN stubbed and timed by the LD_PRELOAD shim...\n');
    figures.push(...exitCostFigures(quick));
  }
  if (wanted('shinfo')) {
    process.stderr.write('bench: xen_shinfo_test, port vs C, in the VM...\n');
    const shinfo = await shinfoFigures(quick);
    kernel = shinfo.kernel;
    figures.push(...shinfo.figures);
  }
  if (wanted('vm-boot')) {
    process.stderr.write('bench: VM boot, runner vs bare QEMU...\n');
    figures.push(...await bootFigures(quick));
  }
  if (wanted('vmm-boot')) {
    process.stderr.write('bench: Linux boot, lib/vmm vs QEMU -accel kvm, in the VM...\n');
    figures.push(...await vmmBootFigures(quick));
  }
  if (wanted('hot-swap')) {
    process.stderr.write('bench: patch edit to verdict, test --vm --watch vs build-kvm + test --vm...\n');
    figures.push(...await hotSwapFigures(quick));
  }

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const machine = `${os.cpus().length} x ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}`;
  const date = started.toISOString().slice(0, 10);
  const xen = kernel === undefined ? '' : `; Xen figures with ${kernel} (${resolveAccel('auto').toUpperCase()})`;
  process.stdout.write(`${table(figures)}\n\n${date}, ${machine}${xen}${quick ? ' (--quick: not a measurement)' : ''}\n`);
  if (values.json !== undefined) {
    const report: BenchReport = { date: started.toISOString(), machine, quick, figures };
    fs.writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  }
}

main().catch((error: Error) => {
  process.stderr.write(`bench: ${error.message}\n`);
  process.exitCode = 1;
});
