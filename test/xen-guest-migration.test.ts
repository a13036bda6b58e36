// xen_guest_migration_test (issue 12, item 3's lost event with a real guest) through `kvm-xen test --vm`,
// on Debian's stock KVM and on KVM built with our patch (kernel/). Stock: the guest's timer event,
// fired while vcpu_info was away at the stop-and-copy, is lost on the destination, the guest's counter
// stalls, and the test says so on exactly its gap line (XFAIL with the known-gap reason), in bounded
// time. Patched: every check passes, --strict included.
import t, { type Test } from 'tap';

import fs from 'node:fs';
import path from 'node:path';

import { buildKvmModules } from '../lib/kbuild';
import { projectRoot } from '../lib/paths';
import { outcomeOf, parseTap, type TapDocument } from '../lib/tap/parse';
import { KNOWN_GAP } from '../selftests/evtchn/known-gap';
import { runCli, stderrGist } from './helpers/vm';

const NAME = 'xen_guest_migration_test';
const GAP_LINE = /^after the migration the guest's timer goes on /;

function checksOf(stdout: string): TapDocument['results'] {
  return parseTap(stdout).results.find((result) => result.description === NAME)?.subtest?.results ?? [];
}

/** The test's diagnostics worth keeping in our log: the migration, the stop-and-copy, the stall. */
function commentNumbers(t: Test, stdout: string): void {
  for (const line of stdout.split('\n')) {
    if (/# (kvm-xen boot|migration:|vCPU \d|no counter line|\d+ counter lines)/.test(line)) t.comment(line.trim());
  }
}

t.test('stock KVM: the migrated guest loses its timer event; the test reports the known gap on its line', async (t) => {
  const run = await runCli(['test', '--vm', '--timeout', '600', NAME]);
  commentNumbers(t, run.stdout);
  t.equal(run.status, 0, `suite status: the gap is an XFAIL (stderr: ${stderrGist(run)})`);
  const checks = checksOf(run.stdout);
  t.equal(checks.length, 3, 'every check ran');
  for (const result of checks) {
    if (GAP_LINE.test(result.description)) {
      t.same([result.ok, result.directive, result.reason], [true, 'XFAIL', KNOWN_GAP], `${result.description}: the known gap`);
    } else {
      t.equal(outcomeOf(result), 'pass', result.description);
    }
  }
  t.match(run.stdout, /# no counter line for \d+ s after the migration/, 'the stall was detected in bounded time');
});

t.test('KVM with kernel/0001: the migrated guest keeps its timer, every check passes with --strict', async (t) => {
  const kernelDir = path.join(projectRoot, 'kernel');
  const patches = fs.readdirSync(kernelDir).filter((f) => f.endsWith('.patch')).map((f) => path.join(kernelDir, f));
  const modules = await buildKvmModules({ patches });
  const run = await runCli(['test', '--vm', '--timeout', '600', '--kvm-modules', modules.dir, '--strict', NAME]);
  commentNumbers(t, run.stdout);
  t.equal(run.status, 0, `suite status with patched KVM (stderr: ${stderrGist(run)})`);
  const checks = checksOf(run.stdout);
  t.equal(checks.length, 3, 'every check ran');
  for (const result of checks) t.equal(outcomeOf(result), 'pass', result.description);
  t.match(run.stdout, /# the command ended: exited, status 0/, 'the counter ran to its end on the destination');
});
