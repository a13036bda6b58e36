// Guest programs on the real /dev/kvm: ucalls, port and memory-mapped I/O both ways, HLT, exceptions
// and assertion failures coming back as host errors that say where and why.
import fs from 'node:fs';
import path from 'node:path';

import t from 'tap';

import { GuestAssertionError, GuestExceptionError, PAGE_SIZE, UnexpectedExitError } from '../lib/guest';
import type { VcpuExit } from '../lib/kvm';
import { projectRoot } from '../lib/paths';
import { basicsMachine, kvmOrSkip } from './helpers/kvm';
import { thrownBy } from './helpers/thrown';

const TEST_PORT = 0xe0;
const MMIO_ADDRESS = 0xd0000000;
const RUN = { timeoutMs: 5000 };

const basicsSource = path.join('test', 'guests', 'basics.c');

/** The 1-based line of basics.c that contains `text` (the guest reports __FILE__ and __LINE__). */
function sourceLine(text: string): number {
  const lines = fs.readFileSync(path.join(projectRoot, basicsSource), 'utf8').split('\n');
  const index = lines.findIndex((line) => line.includes(text));
  if (index < 0) throw new Error(`basics.c has no line with ${text}`);
  return index + 1;
}

const littleEndian = (value: number, size: number): number[] => Array.from({ length: size }, (_, i) => (value >>> (8 * i)) & 0xff);

t.test('a guest syncs with its arguments, then finishes', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'sync');
  t.same(machine.runUntilUcall(RUN), { cmd: 'sync', args: [1n] });
  t.same(machine.runUntilUcall(RUN), { cmd: 'sync', args: [2n, 0x1122334455667788n, 0xffffffffffffffffn] }, '64-bit values, -1 widened');
  t.same(machine.runUntilUcall(RUN), { cmd: 'done' });
});

t.test('PIO out carries the guest\'s bytes; PIO in delivers the host\'s', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'pio');
  const outs: Array<{ size: number; bytes: number[] }> = [];
  const answers = new Map([[1, 0xab], [2, 0xcdef], [4, 0x89abcdef]]);
  for (let i = 0; i < 6; i++) {
    const exit = machine.vcpu.runSync(RUN);
    if (exit.reason !== 'io') {
      t.fail(`exit ${i} is ${exit.reason}, not io`);
      return;
    }
    t.equal(exit.port, TEST_PORT, `exit ${i} port`);
    t.equal(exit.count, 1);
    t.equal(exit.data.length, exit.size, 'the data view covers size × count bytes');
    if (exit.direction === 'out') outs.push({ size: exit.size, bytes: Array.from(exit.data) });
    else exit.data.set(littleEndian(answers.get(exit.size)!, exit.size));
  }
  t.same(outs, [
    { size: 1, bytes: [0x11] },
    { size: 2, bytes: [0x33, 0x22] },
    { size: 4, bytes: [0x77, 0x66, 0x55, 0x44] },
  ], 'outb, outw, outl in order with their values');
  t.same(machine.runUntilUcall(RUN), { cmd: 'sync', args: [0xabn, 0xcdefn, 0x89abcdefn] }, 'the guest read what the host answered');
  t.same(machine.runUntilUcall(RUN), { cmd: 'done' });
});

t.test('an unexpected exit is reported with what it was', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'pio');
  const error = thrownBy(() => machine.runUntilUcall(RUN));
  t.type(error, UnexpectedExitError);
  if (!(error instanceof UnexpectedExitError)) return;
  t.match(error.exit, { reason: 'io', direction: 'out', port: TEST_PORT, size: 1 });
  t.equal(error.message, 'unexpected exit while waiting for a ucall: io out port 0xe0 size 1 count 1');
});

t.test('MMIO writes and reads exit with address, length and data', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'mmio');
  // No memory slot there: every access to the page is an MMIO exit.
  machine.map(MMIO_ADDRESS, MMIO_ADDRESS, PAGE_SIZE, { uncached: true });
  const write = machine.vcpu.runSync(RUN);
  t.match(write, { reason: 'mmio', address: BigInt(MMIO_ADDRESS), isWrite: true, length: 4 });
  if (write.reason === 'mmio') t.same(Array.from(write.data), littleEndian(0xcafef00d, 4), 'the written value');
  const read = machine.vcpu.runSync(RUN);
  t.match(read, { reason: 'mmio', address: BigInt(MMIO_ADDRESS + 4), isWrite: false, length: 4 });
  if (read.reason === 'mmio') read.data.set(littleEndian(0x12345678, 4));
  t.same(machine.runUntilUcall(RUN), { cmd: 'sync', args: [0x12345678n] }, 'the guest read the host\'s value');
  t.same(machine.runUntilUcall(RUN), { cmd: 'done' });
});

t.test('HLT exits to the host without an in-kernel irqchip, and the guest goes on after it', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'hlt', { irqchip: false });
  t.same(machine.vcpu.runSync(RUN), { reason: 'hlt' });
  t.same(machine.runUntilUcall(RUN), { cmd: 'sync', args: [4n] });
  t.same(machine.runUntilUcall(RUN), { cmd: 'done' });
});

t.test('a guest exception is reported with its vector and where it happened', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'exception');
  const guestMain = machine.image.symbols.get('guest_main')!;
  const error = thrownBy(() => machine.runUntilUcall(RUN));
  t.type(error, GuestExceptionError);
  if (!(error instanceof GuestExceptionError)) return;
  t.equal(error.vector, 6, '#UD from ud2');
  t.ok(error.rip >= BigInt(guestMain.address) && error.rip < BigInt(guestMain.address + guestMain.size), 'rip inside guest_main');
  t.match(error.message, /^unhandled guest exception #UD \(vector 6\) at rip 0x[0-9a-f]+/);
});

t.test('a page fault names the faulting address', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'pageFault');
  const error = thrownBy(() => machine.runUntilUcall(RUN));
  t.type(error, GuestExceptionError);
  if (!(error instanceof GuestExceptionError)) return;
  t.equal(error.vector, 14);
  t.equal(error.cr2, 8n, 'cr2: the null pointer plus 8');
  t.equal(error.errorCode, 0n, 'a supervisor read of a page that is not present');
  t.match(error.message, /#PF \(vector 14\).*cr2 0x8$/);
});

t.test('a failed GUEST_ASSERT_EQ throws with the guest\'s file, line and message', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'assert');
  const error = thrownBy(() => machine.runUntilUcall(RUN));
  t.type(error, GuestAssertionError);
  if (!(error instanceof GuestAssertionError)) return;
  t.equal(error.file, basicsSource);
  t.equal(error.line, sourceLine('GUEST_ASSERT_EQ(scenario, 42)'));
  t.equal(error.guestMessage, 'scenario == 42 failed: 0x6 != 0x2a');
  t.equal(error.message, `guest assertion failed at ${basicsSource}:${error.line}: scenario == 42 failed: 0x6 != 0x2a`);
});

t.test('GUEST_FAIL formats its message in the guest', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 1234567);
  const error = thrownBy(() => machine.runUntilUcall(RUN));
  t.type(error, GuestAssertionError);
  if (!(error instanceof GuestAssertionError)) return;
  t.equal(error.line, sourceLine('GUEST_FAIL("unknown scenario'));
  t.equal(error.guestMessage, 'unknown scenario 1234567');
});

t.test('a run that ends at its timeout says so', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'spin');
  const started = performance.now();
  const exit: VcpuExit = machine.vcpu.runSync({ timeoutMs: 50 });
  const took = performance.now() - started;
  t.same(exit, { reason: 'timeout' });
  t.ok(took >= 45 && took < 2000, `ended after ${took.toFixed(1)} ms`);
  t.ok(machine.memory.read64(machine.symbol('spins')) > 0n, 'the guest ran meanwhile');
});
