// --kvm-param for real: a parameter reaches the guest's kvm module, an unknown one is refused before any
// boot with the module's real parameters, and the suite runs (passing, with the known gap as on stock)
// with kvm.force_emulation_prefix=1, where xen_shinfo_test's upcall handler really stores through KVM's
// emulator — and never without it. This is the suite's one run with forced emulation in CI.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import { outcomeOf, parseTap, type TapDocument } from '../lib/tap/parse';
import { suiteTotalsLine } from './helpers/kunit';
import { passes, runSuiteCli } from './helpers/suite-run';
import { runCli, stderrGist } from './helpers/vm';

const FEP = ['--kvm-param', 'kvm.force_emulation_prefix=1'];
/** xen_shinfo_test's KTAP diagnostic about its upcall handler's stores (selftests/xen_shinfo_test.ts). */
const STORES = /^ *# forced emulation (on|off) \(kvm\.force_emulation_prefix\), seed 0x[0-9a-f]+: (\d+) of (\d+) vcpu_info stores by the upcall handler went through KVM's emulator$/m;

function shinfoOf(doc: TapDocument): TapDocument | undefined {
  return doc.results.find((result) => result.description === 'xen_shinfo_test')?.subtest;
}

/** A stand-in for QEMU that only records that it was started: a run that gets to it has booted. */
function recordingQemu(t: tap.Test): { env: NodeJS.ProcessEnv; booted: () => boolean } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-param-qemu-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const program = path.join(dir, 'qemu');
  const marker = path.join(dir, 'started');
  fs.writeFileSync(program, `#!/bin/sh\ntouch ${marker}\nexit 1\n`, { mode: 0o755 });
  return { env: { ...process.env, KVM_XEN_QEMU: program }, booted: () => fs.existsSync(marker) };
}

t.test('an unknown parameter: usage error 64 naming kvm\'s real parameters, before any boot (vm, test --vm, compare)', async (t) => {
  const qemu = recordingQemu(t);
  const commands = [
    ['vm', '--kvm-param', 'kvm.no_such_param=1', '--', 'true'],
    ['test', '--vm', '--kvm-param', 'kvm.no_such_param=1', 'xen_vmcall_test'],
    ['compare', '--kernel', 'debian', '--kernel', 'debian', '--kvm-param', 'kvm.no_such_param=1'],
  ];
  for (const args of commands) {
    const run = await runCli(args, { env: qemu.env });
    t.equal(run.status, 64, `${args[0]}: status (stderr: ${stderrGist(run, 300)})`);
    t.match(run.stderr, '--kvm-param kvm.no_such_param=1: kvm has no parameter "no_such_param"; its parameters: ');
    // The list comes from the module file: names and types only the real kvm.ko declares.
    t.match(run.stderr, /force_emulation_prefix \(int\)/);
    t.match(run.stderr, /halt_poll_ns \(uint\), /);
    t.match(run.stderr, /nx_huge_pages \(bool\)/);
  }
  const wrongType = await runCli(['vm', '--kvm-param', 'kvm.force_emulation_prefix=Y', '--', 'true'], { env: qemu.env });
  t.equal(wrongType.status, 64, 'a value of the wrong type');
  t.match(wrongType.stderr, /"Y" is not a valid int/);
  const notLoaded = await runCli(['vm', '--accel', 'tcg', '--kvm-param', 'kvm_intel.nested=1', '--', 'true'], { env: qemu.env });
  t.equal(notLoaded.status, 64, 'a module this guest does not load');
  t.match(notLoaded.stderr, /kvm_intel is not a module the guest loads: the guest's CPU is AMD/);
  t.notOk(qemu.booted(), 'QEMU was never started');
});

t.test('vm --kvm-param kvm.force_emulation_prefix=1: the guest\'s kvm module has it', async (t) => {
  const run = await runCli(['vm', '--timeout', '600', ...FEP, '--', 'cat', '/sys/module/kvm/parameters/force_emulation_prefix']);
  t.equal(run.status, 0, `status (stderr: ${stderrGist(run)})`);
  t.equal(run.stdout, '1\n', 'an int parameter in 6.12: 1');
});

t.test('the suite with kvm.force_emulation_prefix=1: it passes with the known gap as on stock, and stores really go through the emulator', async (t) => {
  const run = await runSuiteCli(t, ['test', '--vm', '--timeout', '900', ...FEP], passes);
  if (!t.equal(run.status, 0, `suite status (stderr: ${stderrGist(run)})`)) t.comment(run.stdout);
  t.same(suiteTotalsLine(run.stdout), { pass: 44, fail: 0, xfail: 8, xpass: 0, skip: 0, error: 0 }, 'the Totals of the stock run (test/xen-suite.test.ts)');
  const shinfo = shinfoOf(parseTap(run.stdout));
  t.equal(shinfo?.results.length, 30, '27 stages and 3 final checks');
  for (const result of shinfo?.results ?? []) t.equal(outcomeOf(result), 'pass', result.description);
  const stores = STORES.exec(run.stdout);
  t.ok(stores, `the store count line: ${stores?.[0]}`);
  t.equal(stores?.[1], 'on', 'the host saw the parameter on');
  t.ok(Number(stores?.[2]) > 0, `some stores were emulated: ${stores?.[2]} of ${stores?.[3]}`);
  t.ok(Number(stores?.[2]) < Number(stores?.[3]), 'and some were plain (half, at random)');
});

t.test('xen_shinfo_test without the parameter: no store goes through the emulator', async (t) => {
  // Its pass on the stock kernel is test/xen-suite.test.ts's to check; the count line comes after a
  // failure too (the 100 ms timer of stage 15 can expire early on a machine under heavy load).
  const run = await runCli(['test', '--vm', '--timeout', '600', 'xen_shinfo_test']);
  t.ok(run.status === 0 || run.status === 1, `the suite ran (status ${run.status}; stderr: ${stderrGist(run, 300)})`);
  const stores = STORES.exec(run.stdout);
  if (!t.ok(stores, `the store count line: ${stores?.[0]}`)) t.comment(run.stdout);
  t.equal(stores?.[1], 'off', "stock: KVM's force_emulation_prefix is 0");
  t.equal(stores?.[2], '0', 'no store emulated');
  t.ok(Number(stores?.[3]) > 0, `the handler stored ${stores?.[3]} times`);
});
