// A Node process that receives signals while it calls KVM: here Node's own CPU profiler, whose SIGPROF
// every 100 us made KVM_CREATE_VM fail with EINTR in about one call of five on this host before the
// shim made such calls again (native/ioctl.cc PerformIoctl). Real /dev/kvm, real signals: VMs created
// and closed for two seconds in a profiled child must all succeed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import { projectRoot } from '../lib/paths';
import { kvmOrSkip } from './helpers/kvm';

const creator = `
const { Kvm } = require(${JSON.stringify(path.join(projectRoot, 'dist', 'lib'))});
const kvm = Kvm.open();
const errors = [];
let calls = 0;
for (const started = Date.now(); Date.now() - started < 2000; calls++) {
  try { kvm.createVm().close(); } catch (error) { errors.push(error.message); }
}
kvm.close();
process.stdout.write(JSON.stringify({ calls, errors: errors.slice(0, 3), failed: errors.length }));
`;

t.test('KVM_CREATE_VM under a signal every 100 us (Node\'s profiler) never fails with EINTR', async (t) => {
  if (!kvmOrSkip(t)) return;
  const profiles = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-eintr-'));
  t.teardown(() => fs.rmSync(profiles, { recursive: true, force: true }));
  const child = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', profiles, '--cpu-prof-interval', '100', '-e', creator], { encoding: 'utf8', timeout: 60000 });
  t.equal(child.status, 0, `the profiled child ran (stderr: ${child.stderr.trim().slice(-300)})`);
  const result = JSON.parse(child.stdout) as { calls: number; errors: string[]; failed: number };
  t.comment(`${result.calls} VMs created and closed under the profiler`);
  t.ok(result.calls > 100, 'many calls were made');
  t.equal(result.failed, 0, `none failed (${result.errors.join('; ')})`);
  t.ok(fs.readdirSync(profiles).some((file) => file.endsWith('.cpuprofile')), 'the profiler really ran');
});
