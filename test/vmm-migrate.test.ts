// kvm-xen boot --migrate-after, for real (issue 12, item 3): Debian's kernel booted by lib/vmm inside
// the runner's VM (plain, then as a Xen HVM guest with --xen), a command in it printing a counter every
// 100 ms, and the running guest live-migrated into a fresh KVM VM partway through. The counter must go on without a restart or a gap, the guest's
// local timer must keep ticking on the destination, and the pre-copy must really have used KVM's dirty
// log (more than one round, the stop-and-copy set far smaller than the first round).
import t, { type Test } from 'tap';

import { resolveKernel } from '../lib/vm';
import { cliCase, parseCases } from './helpers/cases';
import { runCli, stderrGist } from './helpers/vm';

const TICKS = 40;
/**
 * Guest seconds allowed between two counter lines, 100 ms apart when the guest runs alone. Nested KVM
 * under TCG on a loaded host is slow, and the full copy slows the guest further (4.8 s seen with one vCPU, 7.7 s with two, under a load average of 15). The guest
 * sees no downtime (its kvmclock and TSC go on from their values at the pause), so a wrong clock on the
 * destination — a jump, or a clock gone back — shows here, and a stalled timer never ends the count.
 */
const MAX_GAP_S = 20;

// Each line: the counter, the guest's uptime and its timer interrupts (IRQ 0, the PIT, which this
// kernel picks as its clock event device here, plus LOC, the local APIC timers; as a Xen guest, its
// xen-percpu-virq timer), read with shell builtins only so that a tick costs no fork.
const counter = [
  'i=0',
  `while [ $i -lt ${TICKS} ]; do`,
  '  read up _ < /proc/uptime',
  '  timer=0; while read name n rest; do case "$name $rest" in "0: "*|LOC:*|*virq*timer*) timer=$((timer+n));; esac; done < /proc/interrupts',
  '  echo "count $i $up $timer"',
  '  i=$((i+1))',
  '  sleep 0.1',
  'done',
].join('\n');

interface Tick {
  count: number;
  uptime: number;
  timer: number;
}

const REPORT = 'kvm-xen boot: migrated:';

/**
 * The report line and the output without it. The report goes to stderr, the guest's output to stdout,
 * both into one stream here: the report may land inside a counter line, which is joined up again.
 * `at` is where the report was, in the joined text: what follows it came from the destination.
 */
function splitReport(output: string): { report: string | undefined; text: string; at: number } {
  const at = output.indexOf(REPORT);
  if (at < 0) return { report: undefined, text: output, at: -1 };
  const end = output.indexOf('\n', at);
  const stop = end < 0 ? output.length : end + 1;
  return { report: output.slice(at, stop).trim(), text: output.slice(0, at) + output.slice(stop), at };
}

/** One migrated run's output (the guest's and the report on stderr, together): item 3's checks. */
function checkMigration(t: Test, output: string): void {
  const { report, text, at: migratedAt } = splitReport(output);
  t.ok(report, `the migration happened: ${report ?? output.split('\n').filter((line) => line.includes('migrat')).join(' | ')}`);
  const match = /rounds=(\d+) pages=([\d,]+); final pages=(\d+); downtime ([\d.]+) ms (\([^)]*\)); total ([\d.]+) ms/.exec(report ?? '');
  t.ok(match, 'the report has rounds, pages, downtime and total');
  if (match) {
    const rounds = match[2]!.split(',').map(Number);
    const finalPages = Number(match[3]);
    t.comment(`pre-copy: ${match[1]} rounds, pages per round ${rounds.join(' ')}; stop-and-copy ${finalPages} pages`);
    t.comment(`downtime ${match[4]} ms ${match[5]}, total ${match[6]} ms`);
    // What the guest wrote during the full copy, as KVM logged it: a second round's set, or, when that
    // set was already small enough (the pre-copy's target, 256 pages), the stop-and-copy's.
    const dirtied = rounds.length > 1 ? rounds[1]! : finalPages;
    t.ok(dirtied > 0, `the guest dirtied ${dirtied} pages during the full copy and KVM logged them (${rounds.length > 1 ? 'copied in a second round while it ran' : 'few enough to copy in the stop-and-copy'})`);
    t.ok(finalPages < rounds[0]!, `the stop-and-copy set (${finalPages} pages) is smaller than the first round (${rounds[0]})`);
  }

  const ticks: Tick[] = [];
  const ticksAfter: Tick[] = [];
  for (const tick of text.matchAll(/^count (\d+) ([\d.]+) (\d+)$/gm)) {
    const parsed = { count: Number(tick[1]), uptime: Number(tick[2]), timer: Number(tick[3]) };
    ticks.push(parsed);
    if (migratedAt >= 0 && tick.index >= migratedAt) ticksAfter.push(parsed);
  }
  t.same(ticks.map((tick) => tick.count), Array.from({ length: TICKS }, (_, i) => i), `the counter ran 0..${TICKS - 1} once, in order: no restart, no lost line`);
  t.ok(ticksAfter.length >= 3, `${ticksAfter.length} counter lines came from the destination, after the migration`);
  const gaps = ticks.slice(1).map((tick, i) => tick.uptime - ticks[i]!.uptime);
  const widest = Math.max(...gaps);
  t.comment(`widest gap between two counter lines: ${widest.toFixed(2)} s of guest time`);
  t.ok(gaps.every((gap) => gap >= 0), 'the guest\'s uptime never went back');
  t.ok(widest <= MAX_GAP_S, `no gap beyond ${MAX_GAP_S} s (widest ${widest.toFixed(2)} s)`);
  const first = ticksAfter[0];
  const last = ticksAfter.at(-1);
  t.ok(first && last && last.timer > first.timer, `the timer kept ticking on the destination (interrupts ${first?.timer} -> ${last?.timer})`);
}

t.test('a running guest is live-migrated into a fresh VM and carries on, as a plain and as a Xen HVM guest', async (t) => {
  const kernel = await resolveKernel('debian');
  const boot = `node dist/bin/kvm-xen.js boot --kernel ${kernel.bzImage} --mem 256 --migrate-after 1.5`;
  // The Xen guest's Xen state (shared_info, vcpu_info, its timer, event channels) goes along too.
  const script = [cliCase('plain', `${boot} -- sh -c '${counter}' 2>&1`), cliCase('xen', `${boot} --xen -- sh -c '${counter}' 2>&1`)].join('\n');
  const run = await runCli(['vm', '--timeout', '1200', '--', 'sh', '-c', script]);
  t.equal(run.status, 0, `the runner VM ran the cases (stderr: ${stderrGist(run, 2000)})`);
  const cases = parseCases(run.stdout);
  for (const name of ['plain', 'xen']) {
    const ran = cases.get(name);
    t.equal(ran?.status, 0, `${name}: kvm-xen boot exited with the command's status 0`);
    t.test(`${name}: migrated and carried on`, async (t) => checkMigration(t, ran?.output ?? ''));
  }
});
