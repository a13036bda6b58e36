// The VM runner, for real: Debian's 6.12 kernel booted in QEMU (TCG here, KVM where the host can
// nest), one promise of `kvm-xen vm` per test — statuses, arguments, output, /dev/kvm with Xen, and
// each way a run can fail. Boots are few (each takes 5-10 s under TCG): where checks fit one command
// they share its boot.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';

import t from 'tap';

import { projectRoot } from '../lib/paths';
import { runInVm, vmExitStatus } from '../lib/vm';
import { runCli, startCli } from './helpers/vm';

// Generous limits, so a slow CI machine cannot turn a pass into a timeout.
const BOOT = ['--timeout', '240'];

t.test('arguments and environment arrive exactly as given; stdout and stderr stay apart; status 3 comes back', async (t) => {
  const args = ['two words', "it's", '$(touch /tmp/pwned)', '`id`', '"double"', 'back\\slash', '*', '', 'tab\there', 'new\nline', '-e', '; exit 9', '$HOME'];
  const script = [
    'const fs = require("fs");',
    'process.stdout.write(JSON.stringify({ argv: process.argv.slice(1), env: process.env.ODD, cwd: process.cwd(), pwned: fs.existsSync("/tmp/pwned") }));',
    'process.stderr.write("to stderr");',
    'process.exitCode = 3;',
  ].join(' ');
  const run = await runCli(['vm', ...BOOT, '--env', 'ODD=a\'b $(c)', '--', 'node', '-e', script, ...args]);
  t.equal(run.status, 3, `exit 3 comes back (stderr: ${run.stderr.trim()})`);
  t.same(JSON.parse(run.stdout), { argv: args, env: "a'b $(c)", cwd: projectRoot, pwned: false });
  // (A first run on a fresh machine also shows the kernel's download progress, "kvm-xen: ...".)
  // The runner's own lines ("kvm-xen: ...", and "kvm-xen vm: ..." when it retries after a TCG flake) aside.
  const commandStderr = run.stderr.split('\n').filter((line) => !/^kvm-xen( vm)?: /.test(line)).join('\n');
  t.equal(commandStderr, 'to stderr', 'stderr on its own, nothing else from the runner');
});

t.test('statuses 0 and 1 come back', async (t) => {
  for (const [command, status] of [['true', 0], ['false', 1]] as const) {
    const run = await runCli(['vm', ...BOOT, '--', command]);
    t.equal(run.status, status, `${command} gives ${status} (stderr: ${run.stderr.trim()})`);
  }
});

t.test('a 20 MB output arrives complete and byte-exact, through the library API', async (t) => {
  const lines = 2_700_000;  // "1\n" .. "2700000\n": 20.5 MB
  const stdout: Buffer[] = [];
  let stderr = '';
  const result = await runInVm({
    command: ['sh', '-c', `seq 1 ${lines} | md5sum >&2; seq 1 ${lines}`],
    timeoutMs: 240_000,
    output: { write: (chunk) => stdout.push(Buffer.from(chunk)) },
    errorOutput: { write: (chunk) => { stderr += chunk.toString(); } },
  });
  t.equal(result.status, 0, result.message);
  t.equal(result.outcome, 'exited');
  const body = Buffer.concat(stdout);
  const expected = createHash('md5');
  for (let i = 1; i <= lines; i++) expected.update(`${i}\n`);
  const expectedMd5 = expected.digest('hex');
  t.ok(body.length > 20e6, `${body.length} bytes arrived`);
  t.equal(createHash('md5').update(body).digest('hex'), expectedMd5, 'what arrived is what seq writes');
  t.equal(stderr.split(' ')[0], expectedMd5, 'and what the guest itself counted');
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
  t.ok(run.ms < 40_000, `ended after ${run.ms} ms`);
  t.match(run.stderr, /kvm-xen vm: the run passed its time limit of 25 s/);
});

t.test('a kernel panic is reported with its own status', async (t) => {
  const run = await runCli(['vm', ...BOOT, '--', 'sh', '-c', 'echo c > /proc/sysrq-trigger']);
  t.equal(run.status, vmExitStatus.guestPanic, `status ${vmExitStatus.guestPanic}`);
  t.match(run.stderr, /kvm-xen vm: the guest kernel crashed while the command ran: .*sysrq/);
  t.match(run.stderr, /\| .*Kernel panic/, 'with the console lines around it');
});

t.test('a guest that cannot start the command says why, with its own status', async (t) => {
  // Without its virtio console driver the guest has no ports for the command's output.
  const run = await runCli(['vm', ...BOOT, '--append', 'initcall_blacklist=virtio_console_init', '--', 'true']);
  t.equal(run.status, vmExitStatus.noStart, run.stderr);
  t.match(run.stderr, /kvm-xen vm: the guest could not start the command: no virtio-serial output ports/);
});

t.test('Ctrl-C stops QEMU and exits 130', async (t) => {
  const tag = `kvmxen_test_${randomBytes(6).toString('hex')}`;
  const run = startCli(['vm', ...BOOT, '--append', tag, '--', 'sh', '-c', 'echo started; exec sleep 1000']);
  await run.stdoutIncludes('started');
  run.child.kill('SIGINT');
  const result = await run.done;
  t.equal(result.status, vmExitStatus.interrupted, result.stderr);
  t.match(result.stderr, /kvm-xen vm: interrupted/);
  const qemus = fs.readdirSync('/proc').filter((pid) => /^\d+$/.test(pid) && readCmdline(pid).includes(tag));
  t.same(qemus, [], 'no QEMU left running');
});

function readCmdline(pid: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch {
    return '';
  }
}

t.test('refusals before booting: missing kernel, not a kernel, no QEMU, bad usage', async (t) => {
  const missing = await runCli(['vm', '--kernel', '/nonexistent/bzImage', '--', 'true']);
  t.equal(missing.status, vmExitStatus.badKernel);
  t.match(missing.stderr, /kvm-xen vm: kernel \/nonexistent\/bzImage does not exist/);
  t.ok(missing.ms < 10_000, 'at once');

  const notKernel = await runCli(['vm', '--kernel', '/etc/hostname', '--', 'true']);
  t.equal(notKernel.status, vmExitStatus.badKernel);
  t.match(notKernel.stderr, /not an x86 kernel image/);

  const noQemu = await runCli(['vm', '--', 'true'], { env: { ...process.env, KVM_XEN_QEMU: '/nonexistent/qemu' } });
  t.equal(noQemu.status, vmExitStatus.missingTool);
  t.match(noQemu.stderr, /KVM_XEN_QEMU=\/nonexistent\/qemu is not an executable/);

  for (const args of [['vm', 'true'], ['vm', '--smp', 'two', '--', 'true'], ['vm', '--']]) {
    const usage = await runCli(args);
    t.equal(usage.status, vmExitStatus.usage, `${args.join(' ')}: ${usage.stderr.trim()}`);
  }
});
