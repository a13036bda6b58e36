// The VM runner, for real: each test boots Debian's 6.12 kernel in QEMU (TCG here) and checks one
// promise of `kvm-xen vm` — statuses, arguments, output, /dev/kvm with Xen, and each failure mode.
import { createHash } from 'node:crypto';

import t from 'tap';

import { vmExitStatus } from '../lib/vm';
import { runCli } from './helpers/vm';

// Each boot takes about 7 s with TCG; generous limits keep a slow CI machine from failing them.
const BOOT = ['--timeout', '240'];

t.test('exit statuses pass through: 0, 1 and 3', async (t) => {
  for (const status of [0, 1, 3]) {
    const run = await runCli(['vm', ...BOOT, '--', 'sh', '-c', `exit ${status}`]);
    t.equal(run.status, status, `exit ${status} comes back (stderr: ${run.stderr.trim()})`);
  }
});

t.test('arguments arrive exactly as given, without a shell re-reading them', async (t) => {
  const args = ['two words', "it's", '$(touch /tmp/pwned)', '"double"', 'back\\slash', '*', '', 'tab\there', 'new\nline'];
  const run = await runCli(['vm', ...BOOT, '--', 'node', '-e', 'process.stdout.write(JSON.stringify(process.argv.slice(1)))', ...args]);
  t.equal(run.status, 0, run.stderr);
  t.same(JSON.parse(run.stdout), args);
});

t.test('a large output arrives complete and byte-exact', async (t) => {
  // About 2.4 MB of numbered lines, and their checksum computed inside the guest.
  const lines = 350000;
  const run = await runCli(['vm', ...BOOT, '--', 'sh', '-c', `seq 1 ${lines} | md5sum; seq 1 ${lines}`]);
  t.equal(run.status, 0, run.stderr);
  const newline = run.stdout.indexOf('\n');
  const checksum = run.stdout.slice(0, newline).split(' ')[0];
  const body = run.stdout.slice(newline + 1);
  const expected = Array.from({ length: lines }, (_, i) => `${i + 1}\n`).join('');
  t.equal(body.length, expected.length, `${body.length} bytes arrived`);
  t.ok(body === expected, 'every byte as the guest wrote it');
  t.equal(createHash('md5').update(body).digest('hex'), checksum, 'md5 of what arrived equals md5 inside the guest');
});

t.test('the guest has /dev/kvm with Xen support (what makes the Xen tests real here)', async (t) => {
  const script = "const {Kvm}=require('./dist/lib/kvm'); const k=Kvm.open(); console.log(JSON.stringify({api:k.apiVersion(), xen:k.xenHvmCaps().raw}))";
  const run = await runCli(['vm', ...BOOT, '--', 'node', '-e', script]);
  t.equal(run.status, 0, run.stderr);
  const caps = JSON.parse(run.stdout.trim()) as { api: number; xen: number };
  t.equal(caps.api, 12);
  t.not(caps.xen, 0, `KVM_CAP_XEN_HVM = 0x${caps.xen.toString(16)}`);
});

t.test('a hang is cut at --timeout with its own status', async (t) => {
  const run = await runCli(['vm', '--timeout', '25', '--', 'sleep', '1000']);
  t.equal(run.status, vmExitStatus.timeout, run.stderr);
  t.ok(run.ms < 60000, `ended after ${run.ms} ms`);
  t.match(run.stderr, /time limit/);
});

t.test('a kernel panic is reported with its own status', async (t) => {
  const run = await runCli(['vm', ...BOOT, '--', 'sh', '-c', 'echo c > /proc/sysrq-trigger']);
  t.equal(run.status, vmExitStatus.guestPanic, run.stderr);
  t.match(run.stderr, /crashed/);
});

t.test('a missing kernel path is refused clearly, without booting', async (t) => {
  const run = await runCli(['vm', '--kernel', '/nonexistent/bzImage', '--', 'true']);
  t.equal(run.status, vmExitStatus.badKernel);
  t.match(run.stderr, /does not exist/);
  t.ok(run.ms < 10000);
});

t.test('a file that is not a kernel is refused', async (t) => {
  const run = await runCli(['vm', '--kernel', '/etc/hostname', '--', 'true']);
  t.equal(run.status, vmExitStatus.badKernel);
  t.match(run.stderr, /not an x86 kernel image/);
});

t.test('usage errors have their own status', async (t) => {
  const run = await runCli(['vm', 'true']);
  t.equal(run.status, vmExitStatus.usage);
});
