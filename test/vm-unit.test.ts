// The VM runner's pieces that need no VM: the end-marker filter, the failure classification, the
// shared option parser, and the command script's quoting (run through the same /bin/sh the guest uses).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import type { BootObservation } from '../lib/vm/boot';
import { classify } from '../lib/vm/classify';
import { EndMarkedStream, endMarker } from '../lib/vm/end-marker';
import { commandScript, initScript } from '../lib/vm/guest-init';
import { runArchive } from '../lib/vm/initramfs';
import { guestCommandLine, keptTmpDirectories, warmStartByDefault } from '../lib/vm/run';
import { parseVmArgs } from '../bin/vm-flags';
import { runInVm, VmError, vmExitStatus } from '../lib/vm';
import { projectRoot } from '../lib/paths';
import { useCache } from './helpers/host';

const NONCE = '0123456789abcdef0123456789abcdef';

/** Feeds `chunks` through the filter; returns what it passed on and the end text it found. */
function filter(chunks: readonly Buffer[]): { output: Buffer; ending: string | undefined } {
  const parts: Buffer[] = [];
  const stream = new EndMarkedStream(endMarker(NONCE), (bytes) => parts.push(Buffer.from(bytes)));
  for (const chunk of chunks) stream.push(chunk);
  stream.close();
  return { output: Buffer.concat(parts), ending: stream.ending };
}

t.test('end marker: the output before it passes unchanged, however the bytes are cut', async (t) => {
  const output = Buffer.from('line one\nno newline at the end, and a K: KVMXEN-END- look-alike');
  const whole = Buffer.concat([output, endMarker(NONCE), Buffer.from('3\nleft behind by a background process')]);
  for (let cut = 0; cut <= whole.length; cut++) {
    const result = filter([whole.subarray(0, cut), whole.subarray(cut)]);
    if (!result.output.equals(output) || result.ending !== '3') {
      t.fail(`cut at ${cut}: ${JSON.stringify(result.output.toString())} / ${result.ending}`);
      return;
    }
  }
  const bytewise = filter([...whole].map((byte) => Buffer.from([byte])));
  t.ok(bytewise.output.equals(output), 'one byte at a time');
  t.equal(bytewise.ending, '3');
});

t.test('end marker: a marker with another nonce is output, and a run without the marker has no ending', async (t) => {
  const fake = Buffer.from(`${endMarker('f'.repeat(32)).toString()}0\n`);
  const result = filter([fake, Buffer.from('KVMXEN-END-0123')]);
  t.equal(result.output.toString(), `${fake.toString()}KVMXEN-END-0123`, 'held-back bytes come out when the port closes');
  t.equal(result.ending, undefined);
  const binary = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) & 0xff));
  t.ok(filter([binary, endMarker(NONCE), Buffer.from('0\n')]).output.equals(binary), 'binary output is byte-exact');
});

const seen = (overrides: Partial<BootObservation>): BootObservation => ({
  exitStatus: undefined, startedCommand: true, console: '', qemuErrors: '', qemuEnd: 'exit status 0', stoppedFor: undefined, alongsideError: undefined, durationMs: 1, ...overrides,
});
const limits = { timeoutMs: 60000, bootTimeoutMs: 180000 };
const PANIC = '[   12.3] sysrq: Trigger a crash\n[   12.4] Kernel panic - not syncing: sysrq triggered crash\n';
const INT3 = '[    9.1] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI\n[    9.2] Kernel panic - not syncing: Fatal exception in interrupt\n';

t.test('classification: each way a run ends has its own outcome', async (t) => {
  const cases: Array<[string, Partial<BootObservation>, string, RegExp]> = [
    ['the end marker and a clean console: the command\'s status', { exitStatus: 3, console: '[    1.0] Linux version 6.12\nquiet\n' }, 'exited', /^$/],
    ['interrupted', { stoppedFor: 'interrupted' }, 'interrupted', /interrupted/],
    ['output closed', { stoppedFor: 'outputClosed' }, 'outputClosed', /output was closed/],
    ['timeout', { stoppedFor: 'timeout', console: 'hung' }, 'timeout', /time limit of 60 s/],
    ['int3 oops: the TCG flake', { console: INT3 }, 'flake', /Oops: int3.*flake/],
    ['int3 before the start is a flake too', { console: INT3, startedCommand: false }, 'flake', /before the command started/],
    ['another panic is a crash', { console: PANIC }, 'guestPanic', /crashed while the command ran: Kernel panic - not syncing: sysrq/],
    ['a panic during boot is a crash too', { console: PANIC, startedCommand: false }, 'guestPanic', /before the command started/],
    ['the init says why it cannot go on', { startedCommand: false, console: 'kvm-xen-init: insmod kvm failed: Invalid module format\n' }, 'noStart', /could not start the command: insmod kvm failed/],
    ['boot timeout', { startedCommand: false, stoppedFor: 'bootTimeout' }, 'noStart', /within 180 s/],
    ['warm start failed', { startedCommand: false, stoppedFor: 'alongsideFailed', alongsideError: 'saving the guest state failed: x' }, 'noStart', /the warm start failed: saving the guest state failed: x/],
    ['QEMU could not start', { startedCommand: false, qemuErrors: 'qemu-system-x86_64: -accel kvm: failed to initialize kvm\n' }, 'noStart', /QEMU: .*failed to initialize kvm/],
    ['the guest vanished mid-command', { console: 'quiet\n' }, 'guestPanic', /without a crash message or an exit status \(QEMU ended with exit status 0\)/],
    ['QEMU killed from outside', { qemuEnd: 'signal SIGKILL' }, 'guestPanic', /QEMU ended with signal SIGKILL, not sent by kvm-xen/],
  ];
  for (const [name, observation, outcome, message] of cases) {
    const verdict = classify(seen(observation), limits, 'tcg');
    t.equal(verdict.outcome, outcome, name);
    t.match(verdict.message, message, `${name}: message`);
  }
  t.ok(classify(seen({ console: `a\nb\n${PANIC}` }), limits, 'tcg').consoleTail.some((line) => line.includes('Kernel panic')), 'the crash is in the console tail');
  const noisy = classify(seen({ startedCommand: false, console: `\x1b[0m\x1b[1;31mred\x1b[0m\tcell\r\n\x1b]0;title\x07bell\x07 bs\x08 nul\x00\x1bc\x1b(B\r\n` }), limits, 'tcg');
  t.same(noisy.consoleTail, ['red\tcell', 'bell bs nul'], 'the tail is plain text: no escape sequences or control characters but tab');
});

// Console samples as Debian's 6.12 prints them.
const WARN = [
  '[   20.1] ------------[ cut here ]------------',
  '[   20.1] WARNING: CPU: 1 PID: 233 at arch/x86/kvm/xen.c:1234 kvm_xen_set_evtchn_fast+0x2a/0x300 [kvm]',
  '[   20.1] Modules linked in: kvm_amd kvm',
  '[   20.2] Call Trace:',
  '[   20.2]  <TASK>',
  '[   20.2] ---[ end trace 0000000000000000 ]---',
].join('\n') + '\n';
const LOCKDEP = '[   30.0] ======================================================\n[   30.0] WARNING: possible circular locking dependency detected\n';
const KASAN = '[   31.0] ==================================================================\n[   31.0] BUG: KASAN: slab-out-of-bounds in kvm_xen_hcall_evtchn_send+0x44/0x90 [kvm]\n';
const UBSAN = '[   32.0] UBSAN: shift-out-of-bounds in arch/x86/kvm/xen.c:99:12\n';
const GPF = '[   33.0] general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] PREEMPT SMP NOPTI\n';
const IOAPIC_PANIC = '[    0.5] ..MP-BIOS bug: 8254 timer not connected to IO-APIC\n[    0.6] Kernel panic - not syncing: IO-APIC + timer doesn\'t work!  Boot with apic=debug and send a report.\n';
const BOOT_GPF = '[    0.3] general protection fault: 0000 [#1] PREEMPT SMP NOPTI\n[    0.3] CPU: 0 PID: 0 Comm: swapper/0 Not tainted 6.12.117+deb12-amd64\n[    0.3] RIP: 0010:text_poke_early+0x3c/0x80\n';

t.test('kernel warnings fail a run whose command finished, with their lines (11.5b)', async (t) => {
  for (const [name, console] of [['WARN()', WARN], ['lockdep', LOCKDEP], ['KASAN', KASAN], ['UBSAN', UBSAN], ['a survived GPF', GPF]] as const) {
    for (const accel of ['tcg', 'kvm'] as const) {
      const verdict = classify(seen({ exitStatus: 0, console: `[    1.0] booting\n${console}` }), limits, accel);
      t.equal(verdict.outcome, 'guestPanic', `${name} under ${accel}: a failure (status 70), though the command exited 0`);
      t.match(verdict.message, /reported 1 problem\(s\) during the run \(the command's own status was 0\)/, `${name}: says so`);
      t.ok(verdict.consoleTail.length > 0 && verdict.consoleTail.some((line) => console.includes(line)), `${name}: its lines are in the report`);
    }
  }
  const warned = classify(seen({ exitStatus: 0, console: WARN }), limits, 'kvm');
  t.match(warned.message, /WARNING: CPU: 1 PID: 233 at arch\/x86\/kvm\/xen\.c:1234/, 'the WARNING line itself, without its time stamp');
  t.ok(warned.consoleTail.includes('[   20.2] Call Trace:'), 'the call trace after it is in the report');
  t.equal(classify(seen({ exitStatus: 1, console: '[    1.0] x86/fpu: Supporting XSAVE feature 0x001: \'x87 floating point registers\'\n' }), limits, 'kvm').outcome, 'exited', 'an ordinary console is no warning');
});

t.test('the TCG flakes are flakes only under TCG; under KVM an oops fails the run (11.4a)', async (t) => {
  t.equal(classify(seen({ console: INT3 }), limits, 'tcg').outcome, 'flake', 'int3 oops under TCG: a flake (retried)');
  const kvm = classify(seen({ console: INT3 }), limits, 'kvm');
  t.equal(kvm.outcome, 'guestPanic', 'int3 oops under KVM: the kernel\'s own crash (70), never retried');
  t.match(kvm.message, /crashed while the command ran: Oops: int3/);
  t.equal(classify(seen({ exitStatus: 0, console: INT3 }), limits, 'tcg').outcome, 'flake', 'an int3 oops under TCG spoils a finished run too');
  t.equal(classify(seen({ exitStatus: 0, console: INT3 }), limits, 'kvm').outcome, 'guestPanic', 'and fails it under KVM');
  const poke = classify(seen({ console: BOOT_GPF, startedCommand: false }), limits, 'tcg');
  t.equal(poke.outcome, 'flake', 'GPF in text_poke_early during a TCG boot: a flake');
  t.match(poke.message, /text_poke_early before the command started, a known TCG flake/);
  t.equal(classify(seen({ console: BOOT_GPF, startedCommand: false }), limits, 'kvm').outcome, 'guestPanic', 'the same under KVM: a crash');
  t.equal(classify(seen({ console: BOOT_GPF, startedCommand: true }), limits, 'tcg').outcome, 'guestPanic', 'after the command started: a crash');
  const ioapic = classify(seen({ console: IOAPIC_PANIC, startedCommand: false }), limits, 'tcg');
  t.equal(ioapic.outcome, 'flake', 'the IO-APIC timer check\'s panic during a TCG boot: a flake');
  t.match(ioapic.message, /IO-APIC \+ timer doesn't work!.*TCG flake/);
  t.equal(classify(seen({ console: IOAPIC_PANIC, startedCommand: false }), limits, 'kvm').outcome, 'guestPanic', 'the same under KVM: a crash');
});

t.test('the runner statuses are distinct and outside what a shell uses for itself', async (t) => {
  const statuses = Object.values(vmExitStatus);
  t.equal(new Set(statuses).size, statuses.length);
  t.same(vmExitStatus, { usage: 64, badKernel: 66, missingTool: 69, guestPanic: 70, noStart: 71, flake: 75, timeout: 124, interrupted: 130, outputClosed: 141 });
});

t.test('VM flags parse the same way for every verb', async (t) => {
  const parsed = parseVmArgs(['--kernel=debian:6.12.117', '--smp', '4', '--strict', '--env', 'A=1', '--env=B=x=y', '--verbose', 'name', '--', 'cmd', '--smp', '8']);
  t.same(parsed.options, { kernel: 'debian:6.12.117', smp: 4, env: { A: '1', B: 'x=y' }, verbose: true });
  t.same(parsed.rest, ['--strict', 'name'], 'what is not a VM flag is kept, in order');
  t.same(parsed.command, ['cmd', '--smp', '8'], 'everything after -- is the command, untouched');
  t.same(parseVmArgs(['--timeout', '30', '--mem', '4096', '--accel', 'tcg', '--snapshot']).options, { timeoutMs: 30000, memMb: 4096, accel: 'tcg', snapshot: true });
  t.same(parseVmArgs(['--snapshot', '--no-snapshot']).options, { snapshot: false }, '--no-snapshot turns warm starts off (the last flag wins)');
  t.same(parseVmArgs(['--constructor', '--toString']).rest, ['--constructor', '--toString'], 'names of Object.prototype are not flags');
  for (const bad of [['--smp', '0'], ['--accel', 'fast'], ['--env', 'novalue'], ['--timeout'], ['--mem', '2G'], ['--snapshot=yes'], ['--no-snapshot=1'], ['--verbose=1']]) {
    let thrown: unknown;
    try {
      parseVmArgs(bad);
    } catch (error) {
      thrown = error;
    }
    t.ok(thrown instanceof VmError && thrown.status === vmExitStatus.usage, `${bad.join(' ')}: a usage error`);
  }
});

t.test('warm starts are the default only where the boot inputs recur', async (t) => {
  const debian = { debianVersion: '6.12.117-1~deb12u1' };
  t.equal(warmStartByDefault(debian, {}), true, 'a Debian kernel with its own modules');
  t.equal(warmStartByDefault(debian, { kvmModules: '/build/kvm' }), false, 'not with KVM modules the user built');
  t.equal(warmStartByDefault(debian, { verbose: true }), false, 'not when the boot log is to be shown');
  t.equal(warmStartByDefault({}, {}), false, 'not for a bzImage or kernel tree the user built');
});

t.test('the directories kept visible over the guest\'s scratch /tmp: the top ones under /tmp of the command, the checkout, the cache, the kernel', async (t) => {
  // This checkout is kept too when it is under /tmp (a CI clone there), second in the list.
  const checkout = projectRoot.startsWith('/tmp/') ? [`/tmp/${projectRoot.split('/')[2]}`] : [];
  useCache(t, '/var/cache/kvm-xen');
  t.same(keptTmpDirectories('/home/user/project', '/boot/vmlinuz'), checkout, 'nothing else under /tmp: nothing else kept');
  t.same(keptTmpDirectories('/tmp/project/sub', '/tmp/builds/linux/arch/x86/boot/bzImage'), [...new Set(['/tmp/project', ...checkout, '/tmp/builds'])], 'the command\'s and the kernel\'s, each by its top directory');
  process.env['KVM_XEN_CACHE'] = '/tmp/ci-cache';
  t.same(keptTmpDirectories('/tmp/ci-cache/x', '/tmp/ci-cache/packages/bzImage'), [...new Set(['/tmp/ci-cache', ...checkout])], 'once each');
  const linkDir = fs.mkdtempSync('/tmp/kvm-xen-link-');
  const realDir = fs.mkdtempSync('/tmp/kvm-xen-real-');
  t.teardown(() => [linkDir, realDir].forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));
  fs.writeFileSync(path.join(realDir, 'bzImage'), '');
  fs.symlinkSync(path.join(realDir, 'bzImage'), path.join(linkDir, 'bzImage'));
  t.same(keptTmpDirectories('/tmp/ci-cache', path.join(linkDir, 'bzImage')), [...new Set(['/tmp/ci-cache', ...checkout, linkDir, realDir])], 'a kernel that is a link: where it is and where it leads');
  t.throws(() => keptTmpDirectories('/tmp'), /cannot run in \/tmp itself/);
});

t.test('the command script hands every argument over literally', async (t) => {
  const args = ['two words', "it's", '$(touch /tmp/kvm-xen-pwned)', '`id`', '"double"', 'back\\slash', '*', '', 'tab\there', 'new\nline', "'", '\\', '-n', '$HOME'];
  const script = commandScript({
    argv: [process.execPath, '-e', 'process.stdout.write(JSON.stringify([process.argv.slice(1), process.cwd(), process.env.ODD]))', ...args],
    cwd: '/',
    env: { ODD: "a'b $(c) \"d\"" },
  });
  // The guest runs this with the host's /bin/sh (chrooted), so the host's sh is the right judge.
  const run = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
  t.equal(run.status, 0, run.stderr);
  t.same(JSON.parse(run.stdout), [args, '/', "a'b $(c) \"d\""]);
  t.throws(() => commandScript({ argv: ['a\0b'], cwd: '/', env: {} }), /NUL/);
  t.throws(() => commandScript({ argv: ['true'], cwd: '/', env: { 'BAD NAME': 'x' } }), /environment variable name/);
});

t.test('runInVm checks its options as the CLI does, before anything runs', async (t) => {
  const bad: Array<[Record<string, unknown>, ErrorConstructor, RegExp]> = [
    [{ smp: -1 }, RangeError, /^smp must be an integer from 1 to 288/],
    [{ smp: 1.5 }, RangeError, /^smp /],
    [{ smp: '2' }, TypeError, /^smp must be a number/],
    [{ memMb: -5 }, RangeError, /^memMb must be an integer from 128 /],
    [{ memMb: 1e12 }, RangeError, /^memMb .*host's memory/],
    [{ timeoutMs: -1 }, RangeError, /^timeoutMs /],
    [{ timeoutMs: NaN }, RangeError, /^timeoutMs .*got NaN/],
    [{ timeoutMs: 2 ** 31 }, RangeError, /^timeoutMs /],
    [{ accel: 'xen' }, RangeError, /^accel must be auto, kvm, tcg, got "xen"/],
    [{ env: { 'BAD-NAME': 'x' } }, RangeError, /^env name "BAD-NAME"/],
    [{ env: { GOOD: 3 } }, TypeError, /^env\.GOOD must be a string/],
    [{ kernel: 7 }, TypeError, /^kernel must be a string/],
    [{ snapshot: 'yes' }, TypeError, /^snapshot must be a boolean/],
    [{ command: 'true' }, TypeError, /^command must be an array of strings/],
  ];
  for (const [options, type, message] of bad) {
    // KVM_XEN_QEMU is not consulted: a request that got past the checks would fail differently.
    await t.rejects(runInVm({ command: ['true'], ...options } as never), { constructor: type, message }, JSON.stringify(options));
  }
});

t.test('the init holds the run\'s node binary open (its pages stay cached over 9p), not passed to the command', async (t) => {
  t.match(runArchive({ nonce: 'n', command: 'c', hold: '/usr/bin/node' }).toString('latin1'), /run\/kvm-xen\/hold[^]*\/usr\/bin\/node/);
  t.notMatch(runArchive({ nonce: 'n', command: 'c' }).toString('latin1'), 'run/kvm-xen/hold');
  // A missing file must not stop the init: exec with a failed redirection would end the shell.
  t.match(initScript, '[ -n "$HOLD" ] && [ -r "/mnt$HOLD" ] && exec 7< "/mnt$HOLD"');
  t.match(initScript, /env -i \/bin\/chroot .* 7<&-\n/);
  // The same lines run by sh: with the file absent the script goes on; present, fd 7 is open, and the command has none.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-hold-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'node'), 'x');
  const lines = (hold: string): string => `HOLD=${hold}\n[ -n "$HOLD" ] && [ -r "/mnt$HOLD" ] && exec 7< "/mnt$HOLD"\n`.replace(/\/mnt/g, dir);
  t.equal(spawnSync('sh', ['-c', `${lines('/missing')}echo went on`], { encoding: 'utf8' }).stdout, 'went on\n');
  const held = spawnSync('sh', ['-c', `${lines('/node')}readlink /proc/$$/fd/7; sh -c 'ls /proc/self/fd' 7<&-`], { encoding: 'utf8' }).stdout.split('\n');
  t.equal(held[0], path.join(dir, 'node'));
  t.notOk(held.slice(1).includes('7'), 'the command does not inherit it');
});

t.test('the guest command line: quiet unless --verbose shows the console, the user\'s --append last', async (t) => {
  t.equal(guestCommandLine(false, undefined, 'kvm'), 'console=ttyS0 quiet panic=-1 oops=panic');
  t.equal(guestCommandLine(true, undefined, 'kvm'), 'console=ttyS0 panic=-1 oops=panic', '--verbose: the whole boot log');
  t.equal(guestCommandLine(false, 'loglevel=8 nokaslr', 'kvm'), 'console=ttyS0 quiet panic=-1 oops=panic loglevel=8 nokaslr');
  t.equal(guestCommandLine(false, 'nokaslr', 'tcg'), 'console=ttyS0 quiet panic=-1 oops=panic maxcpus=1 nokaslr', 'TCG: the boot CPU alone until the init brings up the others (the int3 flake)');
});
