// lib/vmm's pure parts, without /dev/kvm: the MP table's layout and checksums, the bzImage header
// checks, the per-vCPU CPUID, the 16550's registers and interrupt line, the CMOS clock, the port bus.
import t from 'tap';

import type { IoExit } from '../lib/kvm';
import { BzImageError, parseBzImage } from '../lib/vmm';
import { vcpuCpuid } from '../lib/vmm/cpuid';
import { Cmos } from '../lib/vmm/devices/cmos';
import { PortBus } from '../lib/vmm/devices/port-bus';
import { Uart16550 } from '../lib/vmm/devices/uart';
import { countDirty, dirtyRuns } from '../lib/vmm/migrate/precopy';
import { mpTable } from '../lib/vmm/mptable';
import { resolveKernel } from '../lib/vm';

const sum = (bytes: Uint8Array): number => bytes.reduce((total, byte) => total + byte, 0) & 0xff;

t.test('MP table: floating pointer, header and entries with valid checksums', async (t) => {
  const address = 0x9fc00;
  const table = mpTable(address, { cpus: 3, signature: 0x00a00f11, features: 0x178bfbff });
  const view = new DataView(table.buffer);
  t.equal(Buffer.from(table.subarray(0, 4)).toString('latin1'), '_MP_');
  t.equal(view.getUint32(4, true), address + 16, 'points at the configuration table right after it');
  t.equal(sum(table.subarray(0, 16)), 0, 'floating pointer checksum');
  const config = table.subarray(16);
  t.equal(Buffer.from(config.subarray(0, 4)).toString('latin1'), 'PCMP');
  t.equal(view.getUint16(16 + 4, true), config.length, 'base table length');
  t.equal(sum(config), 0, 'configuration table checksum');
  t.equal(view.getUint16(16 + 34, true), 3 + 1 + 1 + 16 + 2, 'entries: 3 CPUs, a bus, the IOAPIC, 16 ISA IRQs, LINT0 and LINT1');
  t.same([config[44], config[45], config[47]], [0, 0, 3], 'CPU 0: a processor entry, APIC id 0, enabled bootstrap processor');
  t.same([config[64], config[65], config[67]], [0, 1, 1], 'CPU 1: APIC id 1, enabled');
  const ioapic = 44 + 3 * 20 + 8;
  t.same([config[ioapic], config[ioapic + 1]], [2, 3], 'the IOAPIC entry, id after the CPUs');
  t.throws(() => mpTable(address, { cpus: 0, signature: 0, features: 0 }), RangeError);
});

t.test('bzImage: the header is read, and what is not a bzImage is refused', async (t) => {
  t.throws(() => parseBzImage(new Uint8Array(4096)), BzImageError, 'no HdrS');
  const kernel = await resolveKernel('debian');
  const fs = await import('node:fs');
  const image = parseBzImage(fs.readFileSync(kernel.bzImage));
  t.ok(image.protocol >= 0x20f, `boot protocol 0x${image.protocol.toString(16)}`);
  t.equal(image.code32Start, 0x100000, 'the 32-bit entry at 1 MiB');
  t.ok(image.initSize > image.kernel.length, 'it needs more room to decompress than its size');
});

t.test('CPUID: each vCPU its APIC id, one thread and one core per package', async (t) => {
  const supported = [
    { function: 1, index: 0, flags: 0, eax: 0xa00f11, ebx: 0x00ff0800, ecx: 0, edx: 1 << 28 },
    { function: 0xb, index: 0, flags: 1, eax: 1, ebx: 2, ecx: 0x100, edx: 0 },
    { function: 0x80000008, index: 0, flags: 0, eax: 0x3030, ebx: 0, ecx: 0x7007, edx: 0 },
  ];
  const cpuid = vcpuCpuid(supported, 5);
  const leaf1 = cpuid.find((entry) => entry.function === 1)!;
  t.equal(leaf1.ebx >>> 24, 5, 'initial APIC id');
  t.equal((leaf1.ebx >>> 16) & 0xff, 1, 'one logical processor per package');
  t.equal(leaf1.edx & (1 << 28), 0, 'HTT clear');
  t.ok(leaf1.ecx & 0x80000000, 'the hypervisor bit');
  t.notOk(cpuid.some((entry) => entry.function === 0xb), 'leaf 0xb dropped');
  t.equal(cpuid.find((entry) => entry.function === 0x80000008)!.ecx & 0xf0ff, 0, 'one core per package');
  t.equal(supported[0]!.ebx, 0x00ff0800, 'the supported list is not changed');
});

t.test('16550: probe, transmit, THR-empty and receive interrupts', async (t) => {
  const sent: number[] = [];
  const levels: boolean[] = [];
  const uart = new Uart16550({ setIrq: (level) => levels.push(level), transmit: (bytes) => sent.push(...bytes) });
  uart.write(7, 1, 0x5a);
  t.equal(uart.read(7), 0x5a, 'scratch register');
  uart.write(4, 1, 0x1a);  // loopback with RTS and OUT2
  t.equal(uart.read(6) & 0xf0, 0x90, 'loopback: CTS and DCD follow RTS and OUT2 (Linux\'s probe)');
  uart.write(4, 1, 0x0b);
  uart.write(2, 1, 0x07);
  t.equal(uart.read(2) & 0xc0, 0xc0, 'FIFOs enabled');
  t.equal(uart.read(5) & 0x60, 0x60, 'transmitter empty');
  uart.write(0, 1, 0x41);
  t.same(sent, [0x41], 'a byte written to THR goes out');
  uart.write(1, 1, 0x02);
  t.same(levels, [true], 'enabling the THR-empty interrupt raises the line');
  t.equal(uart.read(2) & 0x0f, 0x02, 'IIR: THR empty');
  t.same(levels, [true, false], 'reading the IIR clears it');
  uart.write(1, 1, 0x01);
  uart.receive(Uint8Array.of(0x68, 0x69));
  t.same(levels, [true, false, true], 'received data raises the line');
  t.equal(uart.read(2) & 0x0f, 0x04, 'IIR: data available');
  t.equal(uart.read(5) & 1, 1, 'LSR: data ready');
  t.same([uart.read(0), uart.read(0)], [0x68, 0x69], 'RBR gives the bytes in order');
  t.equal(uart.read(5) & 1, 0, 'then no data');
  t.same(levels, [true, false, true, false], 'and the line is low');
  uart.write(3, 1, 0x80);
  uart.write(0, 1, 0x01);
  uart.write(1, 1, 0x00);
  t.same([uart.read(0), uart.read(1)], [0x01, 0x00], 'DLAB: the divisor latch');
  t.same(sent, [0x41], 'and nothing transmitted');
});

t.test('CMOS: the host\'s time in BCD, update never in progress', async (t) => {
  const cmos = new Cmos(() => new Date(Date.UTC(2026, 11, 1, 13, 5, 59)));
  const read = (index: number): number => {
    cmos.write(0, 1, index | 0x80);  // bit 7: NMI masked, not part of the index
    return cmos.read(1);
  };
  t.same([read(0), read(2), read(4), read(7), read(8), read(9), read(0x32)], [0x59, 0x05, 0x13, 0x01, 0x12, 0x26, 0x20]);
  t.equal(read(0x0a) & 0x80, 0, 'UIP clear');
  t.equal(read(0x0b) & 0x06, 0x02, '24-hour, BCD');
  cmos.write(0, 1, 0x40);
  cmos.write(1, 1, 0xab);
  t.equal(read(0x40), 0xab, 'the RAM keeps what is written');
});

t.test('port bus: claimed ranges, unclaimed reads all ones, rep I/O', async (t) => {
  const bus = new PortBus();
  const writes: Array<[number, number]> = [];
  bus.register(0x100, 4, { read: (offset) => 0x10 + offset, write: (offset, _size, value) => writes.push([offset, value]) });
  t.throws(() => bus.register(0x102, 4, { read: () => 0, write: () => undefined }), /overlap/);
  const exit = (port: number, direction: 'in' | 'out', data: number[], size = 1): IoExit => ({
    reason: 'io', port, direction, size, count: data.length / size, data: Uint8Array.from(data),
  });
  const rep = exit(0x101, 'out', [1, 2, 3]);
  bus.handle(rep);
  t.same(writes, [[1, 1], [1, 2], [1, 3]], 'rep outsb: each byte to the device');
  const read = exit(0x103, 'in', [0, 0]);
  bus.handle(read);
  t.same([...read.data], [0x13, 0x13]);
  const floating = exit(0x200, 'in', [0, 0, 0, 0], 4);
  bus.handle(floating);
  t.same([...floating.data], [0xff, 0xff, 0xff, 0xff], 'nobody there: all ones');
  t.equal(bus.unclaimed.get(0x200), 1);
});

t.test('migration: a UART and the CMOS RAM carry over their registers and unread input', async (t) => {
  const levels: boolean[] = [];
  const source = new Uart16550({ setIrq: () => undefined, transmit: () => undefined });
  source.write(3, 1, 0x03);
  source.write(7, 1, 0x42);
  source.write(1, 1, 0x01);
  source.receive(Uint8Array.of(0x61, 0x62, 0x63));
  t.equal(source.read(0), 0x61, 'the guest read one byte before the migration');
  const destination = new Uart16550({ setIrq: (level) => levels.push(level), transmit: () => undefined });
  destination.restoreState(source.saveState());
  t.same(levels, [], 'restoring does not drive the line (the irqchip\'s state has its level)');
  t.same([destination.read(3), destination.read(7), destination.read(1)], [0x03, 0x42, 0x01], 'LCR, scratch and IER');
  t.equal(destination.read(2) & 0x0f, 0x04, 'the receive interrupt is still pending');
  t.same([destination.read(0), destination.read(0)], [0x62, 0x63], 'the unread bytes follow');
  t.same(levels, [false], 'and the line drops once they are read');

  const cmos = new Cmos();
  cmos.write(0, 1, 0x40);
  cmos.write(1, 1, 0x99);
  const copy = new Cmos();
  copy.restoreState(cmos.saveState());
  t.equal(copy.read(1), 0x99, 'CMOS: the index and the RAM byte');
});

t.test('migration: dirty bitmaps counted and cut into runs of pages', async (t) => {
  const bitmap = Uint8Array.of(0b0000_0111, 0, 0b1000_0000, 0b0000_0001, 0xff);
  t.equal(countDirty(bitmap), 3 + 2 + 8);
  t.same(dirtyRuns(bitmap), [[0, 3], [23, 2], [32, 8]], 'runs across byte boundaries, and one to the end');
  t.same(dirtyRuns(new Uint8Array(8)), [], 'a clean bitmap: nothing to copy');
  t.equal(countDirty(new Uint8Array(0)), 0);
});
