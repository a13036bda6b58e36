// Faults around the VM: a guest kernel without /dev/kvm (the suite skips with the reason, exit 4) and
// a QEMU that dies while the command runs (a runner failure status and a message, never a hang or 0).
import { execFileSync } from 'node:child_process';

import t from 'tap';

import { parseTap } from '../lib/tap/parse';
import { runCli } from './helpers/vm';
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
  const marker = `kvm-xen-fault-${process.pid}`;
  const run = runCli(['vm', '--timeout', '300', '--', 'sh', '-c', `echo ${marker}; sleep 600`]);
  // Wait until the command runs inside, then kill the QEMU that runs it.
  let killed = false;
  for (let i = 0; i < 120 && !killed; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    try {
      const pids = execFileSync('pgrep', ['-f', 'qemu-system-x86_64.*kvm-xen-vm-'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
      if (pids.length > 0 && i >= 12) {
        for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
        killed = true;
      }
    } catch {
      // not started yet
    }
  }
  t.ok(killed, 'found and killed QEMU');
  const result = await run;
  t.not(result.status, 0, 'not a silent 0');
  t.ok((result.status ?? 0) >= 64, `a runner status (${result.status})`);
  t.match(result.stderr, /kvm-xen vm: /, `a reason: ${result.stderr.trim().split('\n')[0]}`);
});
