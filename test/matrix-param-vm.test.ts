// A module parameter that changes a verdict, shown by compare: KVM's Xen code in Debian's 6.12 reads no
// module parameter of its own, so the parameter is the test-only kvm.xen_fault of
// test/kernel-faults/xen-fault-injection.patch. One module set, two parameter columns (0: sound; 3: the
// Xen timer recorded but never armed), one table: the timer stage that fails under 3 first, the
// stages before it alike, exit 1. Then the same axis with --jobs 2: both columns' VMs really run at once.
import path from 'node:path';

import t from 'tap';

import { buildKvmModules } from '../lib/kbuild';
import { columnsWithFailures } from '../lib/matrix';
import { projectRoot } from '../lib/paths';
import type { CliRun } from './helpers/vm';
import { runSuiteCli } from './helpers/suite-run';

const faultModules = (): ReturnType<typeof buildKvmModules> =>
  buildKvmModules({ patches: [path.join(projectRoot, 'test', 'kernel-faults', 'xen-fault-injection.patch')] });

/** A regression in B, and A (the sound column) with no failure of its own under the table. */
const onlyBFails = (run: CliRun): boolean => run.status === 1 && !columnsWithFailures(run.stdout).includes('A');

t.test('compare over a parameter axis: kvm.xen_fault=0 against 3', async (t) => {
  const faults = await faultModules();
  const run = await runSuiteCli(t, ['compare', '--kernel', 'debian', '--kvm-modules', faults.dir,
    '--kvm-param', 'kvm.xen_fault=0', '--kvm-param', 'kvm.xen_fault=3', '--timeout', '900', '--', 'xen_shinfo_test'], onlyBFails);
  t.comment(`two columns in ${(run.ms / 1000).toFixed(1)} s`);
  t.comment(run.stdout.trim());
  t.equal(run.status, 1, `column B fails what A passes (stderr: ${run.stderr.slice(-2000)})`);
  const lines = run.stdout.split('\n');
  t.match(lines[0], /^test \/ stage\s+A\s+B$/, 'one column per parameter value');
  t.equal(lines[1], '-- differences --');
  t.match(lines[2], /^xen_shinfo_test: stage \d+ TEST_TIMER_\w+\s+pass\s+fail\s+<< fails in B$/, 'the unarmed timer\'s stage is the first row');
  const same = lines.slice(lines.indexOf('-- same --')).join('\n');
  t.match(same, /xen_shinfo_test: stage 0 TEST_INJECT_VECTOR\s+pass\s+pass\n/, 'the stages before it alike');
  t.match(run.stdout, /kvm\.xen_fault=0/, 'the legend names A\'s parameter');
  t.match(run.stdout, /kvm\.xen_fault=3/, 'and B\'s');
  t.match(run.stdout, /\nB: xen_shinfo_test: stage \d+ TEST_TIMER_\w+ failed: IRQ delivery timed out\n/, 'under the table, what B\'s failing stage reported');
  t.notMatch(run.stdout, /\nA: xen_shinfo_test/, 'and nothing of A\'s');
});

// Fault 2 fails stage 0 as soon as B's guest starts the suite, so the two VMs overlap during boot and
// A's timer stages (100 ms windows under TCG) run with the machine to themselves again.
t.test('compare --jobs 2: two columns in two VMs at once', async (t) => {
  const faults = await faultModules();
  const run = await runSuiteCli(t, ['compare', '--jobs', '2', '--kernel', 'debian', '--kvm-modules', faults.dir,
    '--kvm-param', 'kvm.xen_fault=0', '--kvm-param', 'kvm.xen_fault=2', '--timeout', '900', '--', 'xen_shinfo_test'], onlyBFails);
  t.comment(`two columns in ${(run.ms / 1000).toFixed(1)} s`);
  t.equal(run.status, 1, `column B fails what A passes (stderr: ${run.stderr.slice(-2000)})`);
  const progress = run.stderr.split('\n').filter((line) => line.startsWith('kvm-xen compare: '));
  const firstDone = progress.findIndex((line) => / done in /.test(line));
  const started = progress.slice(0, firstDone).filter((line) => / running the suite on /.test(line));
  t.equal(started.length, 2, 'both columns started before either finished');
  t.match(run.stdout.split('\n')[2], /^xen_shinfo_test: stage 0 TEST_INJECT_VECTOR\s+pass\s+fail\s+<< fails in B$/, 'B\'s failing stage first, as with one job');
});
