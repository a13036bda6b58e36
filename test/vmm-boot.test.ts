// kvm-xen boot, for real: Debian's kernel booted by lib/vmm on /dev/kvm inside the runner's VM (this
// host's own /dev/kvm does not run an unmodified kernel). One runner VM runs every case in turn, each a
// fresh boot of the inner kernel, and prints a delimited record per case for the assertions here.
import t from 'tap';

import { resolveKernel } from '../lib/vm';
import { kernelProblemsIn } from '../lib/vm/classify';
import { cliCase as cli, parseCases } from './helpers/cases';
import { runCli, stderrGist } from './helpers/vm';

t.test('kvm-xen boot in the runner VM: output and status come back, with 1 and 2 vCPUs', async (t) => {
  const kernel = await resolveKernel('debian');
  const boot = `node dist/bin/kvm-xen.js boot --kernel ${kernel.bzImage}`;
  // The library call too, for what the CLI does not print: how the machine ended and how long it booted.
  const libraryCall = `node dist/test/helpers/library-boot.js ${kernel.bzImage}`;
  const script = [
    cli('smp1', `${boot} --smp 1 -- sh -c 'echo out-$((6 * 7)); echo to-stderr >&2; nproc'`),
    cli('smp2', `${boot} --smp 2 -- sh -c 'nproc; grep -c ^processor /proc/cpuinfo; exit 7'`),
    cli('stdin', `echo typed-at-the-console | ${boot} --stdin -- head -n 1`),
    cli('missing', `${boot} -- /no/such/command`),
    cli('library', libraryCall),
    cli('dmesg', `${boot} -- dmesg`),
  ].join('\n');
  const run = await runCli(['vm', '--smp', '2', '--timeout', '1500', '--', 'sh', '-c', script]);
  t.equal(run.status, 0, `the runner VM ran the cases (stderr: ${stderrGist(run, 2000)})`);
  const cases = parseCases(run.stdout);

  const smp1 = cases.get('smp1');
  t.equal(smp1?.status, 0, 'one vCPU: the command\'s status 0');
  t.equal(smp1?.output, 'out-42\nto-stderr\n1\n', 'its stdout and stderr, exactly, then nproc = 1');

  const smp2 = cases.get('smp2');
  t.equal(smp2?.status, 7, 'two vCPUs: the command\'s status 7 comes back');
  t.equal(smp2?.output, '2\n2\n', 'the guest sees two CPUs online (nproc, /proc/cpuinfo)');

  const stdin = cases.get('stdin');
  t.equal(stdin?.status, 0, 'console input: status 0');
  t.equal(stdin?.output, 'typed-at-the-console\n', 'what was typed at the console reached the command\'s stdin');

  const missing = cases.get('missing');
  t.equal(missing?.status, 127, 'a command that does not exist: the shell\'s 127');
  t.match(missing?.output, /no\/such\/command/, 'with the shell\'s message');

  const libraryRun = cases.get('library');
  const result = JSON.parse(libraryRun?.output.trim().split('\n').pop() ?? '{}') as {
    status?: number; end?: { reason: string }; bootMs?: number; consoleTail?: string; firstAttempt?: { status: number; consoleTail: string };
  };
  if (result.firstAttempt) t.comment(`the library call's first boot ended with status ${result.firstAttempt.status}; its console's tail:\n${result.firstAttempt.consoleTail}`);
  t.equal(result.status, 0, `the library call: status 0${result.consoleTail ? ` (console's tail:\n${result.consoleTail})` : ''}`);
  t.same(result.end, { reason: 'reset' }, 'the guest\'s reboot -f ended the machine through the i8042 reset line');
  t.ok((result.bootMs ?? 0) > 0, `boot to the command in ${result.bootMs} ms`);

  // Kernel warnings are defects, the guest's included. The one exception is the runner VM's, not
  // ours: QEMU 7.2's TCG lets the guest's XSETBV through without the SVM intercept, so the nested
  // KVM never sees XCR0 change and reports CPUID 0xD's size for x87 alone (576 for 832), and
  // fpu__init_system_xstate warns. QEMU -accel kvm booting the same kernel there warns the same.
  const dmesg = cases.get('dmesg');
  t.equal(dmesg?.status, 0, 'dmesg ran in the guest');
  const nestedTcgXsave = /^WARNING: CPU: \d+ PID: \d+ at arch\/x86\/kernel\/fpu\/xstate\.c:\d+ fpu__init_system_xstate/;
  const problems = kernelProblemsIn(dmesg?.output ?? '');
  t.same(problems.filter((line) => !nestedTcgXsave.test(line)), [], 'no kernel warning in the guest but the nested-TCG XSAVE size one');
});
