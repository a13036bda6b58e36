// Faults the library must survive and report: guests that hang, triple-fault or run away, a VM closed
// while its vCPU runs on another thread, a process that exits with vCPUs running, and a kernel
// without Xen support (every Xen test skips with its reason, nothing fails).
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import t from 'tap';

import { dumpVcpu } from '../lib/kvm';
import { GuestExceptionError } from '../lib/guest';
import { projectRoot } from '../lib/paths';
import { basicsMachine, kvmOrSkip } from './helpers/kvm';
import { selftests } from '../selftests/suite';

/** test/guests/basics.c: an empty IDT, then #UD. */
const TRIPLE_FAULT = 10;

t.test('a hanging guest is ended by the run timeout, and the dump shows where it was', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const m = basicsMachine(t, kvm, 'spin');
  const exit = m.vcpu.runSync({ timeoutMs: 200 });
  t.equal(exit.reason, 'timeout');
  const rip = BigInt(`0x${/rip 0x([0-9a-f]+)/.exec(dumpVcpu(m.vcpu).join('\n'))![1]!}`);
  const main = m.image.symbols.get('guest_main')!;
  t.ok(rip >= BigInt(main.address) && rip < BigInt(main.address + main.size), `rip 0x${rip.toString(16)} is inside guest_main`);
  t.ok(m.memory.read64(m.symbol('spins')) > 0n, 'the guest really ran');
});

t.test('a triple fault comes out as a shutdown exit', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const m = basicsMachine(t, kvm, TRIPLE_FAULT, { irqchip: false });
  t.equal(m.vcpu.runSync({ timeoutMs: 5000 }).reason, 'shutdown');
});

t.test('a runaway guest (wild pointer) is reported with its vector and address', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const m = basicsMachine(t, kvm, 'pageFault');
  let caught: unknown;
  try {
    m.runUntilUcall({ timeoutMs: 5000 });
  } catch (error) {
    caught = error;
  }
  t.ok(caught instanceof GuestExceptionError && caught.vector === 14 && caught.cr2 === 8n, `reported: ${(caught as Error)?.message}`);
});

t.test('closing the VM while its vCPU runs on another thread ends the run without a crash', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const m = basicsMachine(t, kvm, 'spin');
  const run = m.vcpu.runAsync();
  await new Promise((resolve) => setTimeout(resolve, 100));
  m.close();
  const exit = await run;
  t.equal(exit.reason, 'kicked', 'the run ends with the kick close() gives');
  t.throws(() => m.vcpu.runSync(), { code: 'ERR_KVM_CLOSED' }, 'the vCPU is closed afterwards');
});

t.test('a process that exits with vCPUs running does not hang', async (t) => {
  if (!kvmOrSkip(t)) return;
  const script = `
    const { Kvm } = require(${JSON.stringify(path.join(projectRoot, 'dist', 'lib', 'kvm'))});
    const { GuestMachine } = require(${JSON.stringify(path.join(projectRoot, 'dist', 'lib', 'guest'))});
    const kvm = Kvm.open();
    for (let i = 0; i < 3; i++) {
      const m = GuestMachine.create(kvm, { program: 'basics' });
      m.memory.write64(m.symbol('scenario'), 8n);
      m.vcpu.runAsync();
    }
    setTimeout(() => process.exit(7), 200);
  `;
  const started = Date.now();
  const child = spawnSync(process.execPath, ['-e', script], { timeout: 20000 });
  t.equal(child.signal, null, 'not killed');
  t.equal(child.status, 7, 'exited with its own status');
  t.ok(Date.now() - started < 15000, `in ${Date.now() - started} ms`);
});

t.test('on a kernel without Xen, every Xen test skips with its reason and nothing fails', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const xen = kvm.xenHvmCaps().raw;
  if (xen !== 0) {
    t.plan(0, `this kernel has Xen support (KVM_CAP_XEN_HVM = 0x${xen.toString(16)}); the case is for kernels without`);
    return;
  }
  const run = spawnSync(process.execPath, [path.join(projectRoot, 'dist', 'bin', 'kvm-xen.js'), 'test'], { encoding: 'utf8', timeout: 120000 });
  t.equal(run.status, 4, 'kselftest skip status');
  const skips = run.stdout.split('\n').filter((line) => /^ok \d+ \S+ # SKIP /.test(line));
  t.equal(skips.length, selftests.length, 'every test skipped');
  for (const line of skips) t.match(line, /KVM_CAP_XEN_HVM = 0/, line);
  t.notMatch(run.stdout, /^not ok/m);
});
