// 10,000 create/close cycles of Kvm, VMs, memory, vCPUs, eventfds and irqfds (some dropped without
// close(), for the finalizers), and 1,000 guests run to their end among them (half with async runs, so
// vCPU threads start and end), bring the process's fd count, /proc/self/maps line count and thread
// count back to where they started, and grow its RSS by less than 20 MB.
//
// The cycles run in a child process (test/leaks/child.ts) set up so that only the library can move the
// counts: MALLOC_ARENA_MAX=1 (glibc makes no new arenas for new threads), --jitless (V8 commits no code
// pages), fixed semi-spaces (the young generation does not grow). V8's old space may still take a page;
// its pages are mappings too, counted from V8's own heap size and taken off.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import t from 'tap';

import { kvmOrSkip } from './helpers/kvm';
import type { LeakReport } from './leaks/child';

const CYCLES = 10000;
const GUEST_RUNS = CYCLES / 10;
/** The blindness check needs only enough cycles to keep a few VMs. */
const BLIND_CYCLES = 1000;
const RSS_GROWTH_LIMIT_KB = 20 * 1024;
const V8_PAGE_BYTES = 256 * 1024;
// A leaked 2 MiB memory slot per cycle would be gigabytes; V8 and malloc move VmSize by far less.
const VM_SIZE_SLACK_KB = 16 * 1024;

function runCycles(t: tap.Test, cycles: number, extra: string[] = []): LeakReport | undefined {
  const child = path.join(__dirname, 'leaks', 'child.js');
  // Through env(1), which drops NODE_OPTIONS: tap's process-info hook puts its --import back into any
  // environment a test hands to spawn, and its hooks in the child would move the counts.
  const run = spawnSync('env', [
    '-u', 'NODE_OPTIONS', process.execPath,
    '--jitless', '--expose-gc', '--min-semi-space-size=16', '--max-semi-space-size=16', child, String(cycles), ...extra,
  ], { encoding: 'utf8', env: { ...process.env, MALLOC_ARENA_MAX: '1' }, timeout: 600000 });
  if (!t.equal(run.status, 0, 'the child ended normally')) t.comment(`signal ${run.signal ?? 'none'}; stderr: ${run.stderr.trim().slice(-1000)}`);
  const line = run.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as LeakReport;
  } catch {
    t.fail(`no report from the child: ${run.stdout.slice(-400)}`);
    return undefined;
  }
}

/** Maps lines added by something other than V8's heap. */
const mapsLinesGrown = (report: LeakReport): number =>
  report.after.mapsLines - report.before.mapsLines - Math.round((report.after.v8HeapBytes - report.before.v8HeapBytes) / V8_PAGE_BYTES);

t.test(`${CYCLES} create/close cycles and ${GUEST_RUNS} guest runs leave no fd, mapping or thread behind`, async (t) => {
  if (!kvmOrSkip(t)) return;
  const report = runCycles(t, CYCLES);
  if (!report) return;
  const { before, after, kinds, guestRuns } = report;
  const listed = (counts: Record<string, number>): string => Object.entries(counts).map(([kind, n]) => `${n} ${kind}`).join(', ');
  t.comment(`${report.cycles} cycles (${listed(kinds)}) and guest runs (${listed(guestRuns)}) in ${report.ms} ms`);
  t.comment(`fds ${before.fds} -> ${after.fds}, maps lines ${before.mapsLines} -> ${after.mapsLines}, threads ${before.tasks} -> ${after.tasks}, ` +
    `V8 heap ${before.v8HeapBytes} -> ${after.v8HeapBytes}, VmSize ${before.vmSizeKb} -> ${after.vmSizeKb} kB, RSS ${before.rssKb} -> ${after.rssKb} kB`);
  const sum = (counts: Record<string, number>): number => Object.values(counts).reduce((total, n) => total + n, 0);
  t.equal(sum(kinds), CYCLES, 'every cycle ran');
  t.equal(sum(guestRuns), GUEST_RUNS, 'every guest ran to its end');
  t.ok(guestRuns.async > 0 && guestRuns.sync > 0 && kinds.dropped > 0, 'with sync and async runs and dropped objects among them');
  t.equal(after.fds, before.fds, '/proc/self/fd count');
  t.equal(after.tasks, before.tasks, '/proc/self/task count');
  t.equal(mapsLinesGrown(report), 0, '/proc/self/maps line count (less V8 heap pages)');
  t.equal(after.vcpuMappings, 0, 'no kvm_run page left mapped');
  t.ok(after.vmSizeKb - before.vmSizeKb < VM_SIZE_SLACK_KB, `VmSize grew by ${after.vmSizeKb - before.vmSizeKb} kB`);
  t.ok(after.rssKb - before.rssKb < RSS_GROWTH_LIMIT_KB, `RSS grew by ${after.rssKb - before.rssKb} kB (limit ${RSS_GROWTH_LIMIT_KB} kB)`);
});

t.test('the counts are not blind: a VM kept open every 100 cycles shows', async (t) => {
  if (!kvmOrSkip(t)) return;
  const report = runCycles(t, BLIND_CYCLES, ['--leak-every', '100']);
  if (!report) return;
  const kept = BLIND_CYCLES / 100;
  t.equal(report.after.fds - report.before.fds, 2 * kept, 'a VM fd and a vCPU fd each');
  t.equal(report.after.vcpuMappings, kept, 'their kvm_run pages');
  t.ok(mapsLinesGrown(report) > 0, `maps lines grew by ${mapsLinesGrown(report)}`);
});
