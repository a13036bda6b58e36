// Faults around the VM: a guest kernel without /dev/kvm (the suite skips with the reason, exit 4) and
// a QEMU that dies while the command runs (a runner failure status and a message, never a hang or 0).
import fs from 'node:fs';

import t from 'tap';

import { parseTap } from '../lib/tap/parse';
import { processesMentioning, runCli, startCli } from './helpers/vm';
import { selftests } from '../selftests/suite';

t.test('a guest without /dev/kvm: every selftest skips with the reason', async (t) => {
  const run = await runCli(['vm', '--timeout', '300', '--', 'sh', '-c', 'rm /dev/kvm && exec node dist/bin/kvm-xen.js test']);
  t.equal(run.status, 4, `kselftest skip status (stderr: ${run.stderr.trim()})`);
  const doc = parseTap(run.stdout);
  t.equal(doc.results.length, selftests.length, 'every selftest reported');
  for (const result of doc.results) {
    t.equal(result.directive, 'SKIP', result.description);
    t.match(result.reason, /\/dev\/kvm not available: ENOENT/);
  }
});

t.test('QEMU killed in the middle of a run: a failure status and a reason, promptly', async (t) => {
  // A private TMPDIR names this run's QEMU alone: other VMs on the machine (another suite, a user's
  // run) are not this test's to kill.
  const tmp = fs.mkdtempSync('/tmp/kvm-xen-qemu-killed-');
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const runner = startCli(['vm', '--timeout', '300', '--', 'sh', '-c', 'echo up; sleep 600'], { env: { ...process.env, TMPDIR: tmp } });
  await runner.stdoutIncludes('up\n');
  const qemu = processesMentioning(`${tmp}/kvm-xen-vm-`);
  t.ok(qemu.length > 0, 'found this run\'s QEMU');
  for (const pid of qemu) process.kill(pid, 'SIGKILL');
  const result = await runner.done;
  t.not(result.status, 0, 'not a silent 0');
  t.ok((result.status ?? 0) >= 64, `a runner status (${result.status})`);
  t.match(result.stderr, /kvm-xen vm: /, `a reason: ${result.stderr.trim().split('\n')[0]}`);
});
