// The VM runner's pieces that need no VM: the end-marker filter, the failure classification, the
// shared option parser, and the command script's quoting (run through the same /bin/sh the guest uses).
import { spawnSync } from 'node:child_process';

import t from 'tap';

import type { BootObservation } from '../lib/vm/boot';
import { classify } from '../lib/vm/classify';
import { EndMarkedStream, endMarker } from '../lib/vm/end-marker';
import { commandScript } from '../lib/vm/guest-init';
import { parseVmArgs } from '../bin/vm-flags';
import { runInVm, VmError, vmExitStatus } from '../lib/vm';

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
  exitStatus: undefined, startedCommand: true, console: '', qemuErrors: '', qemuEnd: 'exit status 0', stoppedFor: undefined, durationMs: 1, ...overrides,
});
const limits = { timeoutMs: 60000, bootTimeoutMs: 180000 };
const PANIC = '[   12.3] sysrq: Trigger a crash\n[   12.4] Kernel panic - not syncing: sysrq triggered crash\n';
const INT3 = '[    9.1] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI\n[    9.2] Kernel panic - not syncing: Fatal exception in interrupt\n';

t.test('classification: each way a run ends has its own outcome', async (t) => {
  const cases: Array<[string, Partial<BootObservation>, string, RegExp]> = [
    ['the end marker wins over anything after it', { exitStatus: 3, console: PANIC }, 'exited', /^$/],
    ['interrupted', { stoppedFor: 'interrupted' }, 'interrupted', /interrupted/],
    ['timeout', { stoppedFor: 'timeout', console: 'hung' }, 'timeout', /time limit of 60 s/],
    ['int3 oops: the TCG flake', { console: INT3 }, 'flake', /Oops: int3.*flake/],
    ['int3 before the start is a flake too', { console: INT3, startedCommand: false }, 'flake', /before the command started/],
    ['another panic is a crash', { console: PANIC }, 'guestPanic', /crashed while the command ran: Kernel panic - not syncing: sysrq/],
    ['a panic during boot is a crash too', { console: PANIC, startedCommand: false }, 'guestPanic', /before the command started/],
    ['the init says why it cannot go on', { startedCommand: false, console: 'kvm-xen-init: insmod kvm failed: Invalid module format\n' }, 'noStart', /could not start the command: insmod kvm failed/],
    ['boot timeout', { startedCommand: false, stoppedFor: 'bootTimeout' }, 'noStart', /within 180 s/],
    ['QEMU could not start', { startedCommand: false, qemuErrors: 'qemu-system-x86_64: -accel kvm: failed to initialize kvm\n' }, 'noStart', /QEMU: .*failed to initialize kvm/],
    ['the guest vanished mid-command', { console: 'quiet\n' }, 'guestPanic', /without a crash message or an exit status \(QEMU ended with exit status 0\)/],
    ['QEMU killed from outside', { qemuEnd: 'signal SIGKILL' }, 'guestPanic', /QEMU ended with signal SIGKILL, not sent by kvm-xen/],
  ];
  for (const [name, observation, outcome, message] of cases) {
    const verdict = classify(seen(observation), limits);
    t.equal(verdict.outcome, outcome, name);
    t.match(verdict.message, message, `${name}: message`);
  }
  t.ok(classify(seen({ console: `a\nb\n${PANIC}` }), limits).consoleTail.some((line) => line.includes('Kernel panic')), 'the crash is in the console tail');
});

t.test('the runner statuses are distinct and outside what a shell uses for itself', async (t) => {
  const statuses = Object.values(vmExitStatus);
  t.equal(new Set(statuses).size, statuses.length);
  t.same(vmExitStatus, { usage: 64, badKernel: 66, missingTool: 69, guestPanic: 70, noStart: 71, flake: 75, timeout: 124, interrupted: 130 });
});

t.test('VM flags parse the same way for every verb', async (t) => {
  const parsed = parseVmArgs(['--kernel=debian:6.12.117', '--smp', '4', '--strict', '--env', 'A=1', '--env=B=x=y', '--verbose', 'name', '--', 'cmd', '--smp', '8']);
  t.same(parsed.options, { kernel: 'debian:6.12.117', smp: 4, env: { A: '1', B: 'x=y' }, verbose: true });
  t.same(parsed.rest, ['--strict', 'name'], 'what is not a VM flag is kept, in order');
  t.same(parsed.command, ['cmd', '--smp', '8'], 'everything after -- is the command, untouched');
  t.same(parseVmArgs(['--timeout', '30', '--mem', '4096', '--accel', 'tcg']).options, { timeoutMs: 30000, memMb: 4096, accel: 'tcg' });
  for (const bad of [['--smp', '0'], ['--accel', 'fast'], ['--env', 'novalue'], ['--timeout'], ['--mem', '2G']]) {
    let thrown: unknown;
    try {
      parseVmArgs(bad);
    } catch (error) {
      thrown = error;
    }
    t.ok(thrown instanceof VmError && thrown.status === vmExitStatus.usage, `${bad.join(' ')}: a usage error`);
  }
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
    [{ command: 'true' }, TypeError, /^command must be an array of strings/],
  ];
  for (const [options, type, message] of bad) {
    // KVM_XEN_QEMU is not consulted: a request that got past the checks would fail differently.
    await t.rejects(runInVm({ command: ['true'], ...options } as never), { constructor: type, message }, JSON.stringify(options));
  }
});
