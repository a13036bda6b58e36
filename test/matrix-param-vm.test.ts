// A module parameter that changes a verdict, shown by compare: KVM's Xen code in Debian's 6.12 reads no
// module parameter of its own, so the parameter is the test-only kvm.xen_fault of
// test/kernel-faults/xen-fault-injection.patch. One module set, two parameter columns (0: sound; 3: the
// Xen timer recorded but never armed), one table: the timer stage that fails under 3 first, the
// stages before it alike, exit 1.
import path from 'node:path';

import t from 'tap';

import { buildKvmModules } from '../lib/kbuild';
import { projectRoot } from '../lib/paths';
import { runCli } from './helpers/vm';

t.test('compare over a parameter axis: kvm.xen_fault=0 against 3', async (t) => {
  const faults = await buildKvmModules({ patches: [path.join(projectRoot, 'test', 'kernel-faults', 'xen-fault-injection.patch')] });
  const run = await runCli(['compare', '--kernel', 'debian', '--kvm-modules', faults.dir,
    '--kvm-param', 'kvm.xen_fault=0', '--kvm-param', 'kvm.xen_fault=3', '--timeout', '900', '--', 'xen_shinfo_test']);
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
});
