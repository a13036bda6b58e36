// Pure encoding, no /dev/kvm needed: the struct codecs against the addon's request table (every
// struct's size equals the _IOC_SIZE of its ioctl), the ioctl numbers against the kernel's, range
// checks on encode, exit decoding from a fake kvm_run page, and the ELF loader on corrupt files.
import fs from 'node:fs';

import t from 'tap';

import { ElfError, parseElf } from '../lib/guest';
import { decodeExit, decodeXenHvmCaps, type RequestName } from '../lib/kvm';
import { ioDataCache } from '../lib/kvm/exits';
import { array, struct, u32, u64, u8, viewOf } from '../lib/kvm/layout';
import { allRequests, requestInfo } from '../lib/kvm/requests';
import {
  flexHeader, KVM_LAPIC_STATE_SIZE, kvmClockData, kvmCpuidEntry2, kvmEnableCap, kvmIrqfd, kvmIrqRoutingEntry, kvmIrqRoutingXenEvtchn, kvmMpState, kvmMsi,
  KVM_XSAVE_SIZE, kvmDebugregs, kvmDirtyLog, kvmIdentityMapAddr, kvmIrqchip, kvmIrqLevel, kvmPitConfig, kvmPitState2, kvmXcrs,
  kvmMsrEntry, kvmMsrList, kvmRegs, kvmRun, kvmSegment, kvmSregs, kvmUserspaceMemoryRegion, kvmVcpuEvents,
} from '../lib/kvm/structs';
import { guestProgramPath } from '../lib/paths';
import type { HostAddressAttribute } from '../lib/kvm/native';
import { hvmAttributes, vcpuAttributes, type AttributeRow } from '../lib/xen/attributes';
import { kvmXenHvmAttr, kvmXenHvmConfig, kvmXenVcpuAttr } from '../lib/xen/uapi';

interface Sized {
  readonly size: number;
}
/** What the library encodes for a request: its struct (or flexible array header) and array entry. */
interface Codec {
  readonly arg: Sized | 'none';
  readonly entry?: Sized;
}

const none: Codec = { arg: 'none' };
const lapicState: Sized = { size: KVM_LAPIC_STATE_SIZE };
const msrList: Codec = { arg: kvmMsrList, entry: { size: 4 } };

const codecs: Record<RequestName, Codec> = {
  KVM_GET_API_VERSION: none, KVM_CREATE_VM: none, KVM_CHECK_EXTENSION: none, KVM_GET_VCPU_MMAP_SIZE: none,
  KVM_GET_SUPPORTED_CPUID: { arg: flexHeader, entry: kvmCpuidEntry2 },
  KVM_GET_MSR_INDEX_LIST: msrList,
  KVM_GET_SUPPORTED_HV_CPUID: { arg: flexHeader, entry: kvmCpuidEntry2 },
  KVM_CREATE_VCPU: none,
  KVM_SET_USER_MEMORY_REGION: { arg: kvmUserspaceMemoryRegion },
  KVM_CREATE_IRQCHIP: none,
  KVM_SET_GSI_ROUTING: { arg: flexHeader, entry: kvmIrqRoutingEntry },
  KVM_IRQFD: { arg: kvmIrqfd },
  KVM_SIGNAL_MSI: { arg: kvmMsi },
  KVM_GET_CLOCK: { arg: kvmClockData }, KVM_SET_CLOCK: { arg: kvmClockData },
  KVM_ENABLE_CAP: { arg: kvmEnableCap },
  KVM_XEN_HVM_CONFIG: { arg: kvmXenHvmConfig },
  KVM_XEN_HVM_GET_ATTR: { arg: kvmXenHvmAttr }, KVM_XEN_HVM_SET_ATTR: { arg: kvmXenHvmAttr },
  KVM_XEN_HVM_EVTCHN_SEND: { arg: kvmIrqRoutingXenEvtchn },
  KVM_RUN: none,
  KVM_GET_REGS: { arg: kvmRegs }, KVM_SET_REGS: { arg: kvmRegs },
  KVM_GET_SREGS: { arg: kvmSregs }, KVM_SET_SREGS: { arg: kvmSregs },
  KVM_SET_CPUID2: { arg: flexHeader, entry: kvmCpuidEntry2 },
  KVM_GET_MSRS: { arg: flexHeader, entry: kvmMsrEntry }, KVM_SET_MSRS: { arg: flexHeader, entry: kvmMsrEntry },
  KVM_GET_LAPIC: { arg: lapicState }, KVM_SET_LAPIC: { arg: lapicState },
  KVM_GET_VCPU_EVENTS: { arg: kvmVcpuEvents }, KVM_SET_VCPU_EVENTS: { arg: kvmVcpuEvents },
  KVM_GET_MP_STATE: { arg: kvmMpState }, KVM_SET_MP_STATE: { arg: kvmMpState },
  KVM_GET_TSC_KHZ: none,
  KVM_XEN_VCPU_GET_ATTR: { arg: kvmXenVcpuAttr }, KVM_XEN_VCPU_SET_ATTR: { arg: kvmXenVcpuAttr },
  KVM_SET_TSS_ADDR: none, KVM_SET_IDENTITY_MAP_ADDR: { arg: kvmIdentityMapAddr }, KVM_IRQ_LINE: { arg: kvmIrqLevel },
  KVM_CREATE_PIT2: { arg: kvmPitConfig }, KVM_GET_IRQCHIP: { arg: kvmIrqchip }, KVM_SET_IRQCHIP: { arg: kvmIrqchip },
  KVM_GET_PIT2: { arg: kvmPitState2 }, KVM_SET_PIT2: { arg: kvmPitState2 },
  KVM_GET_XSAVE: { arg: { size: KVM_XSAVE_SIZE } }, KVM_SET_XSAVE: { arg: { size: KVM_XSAVE_SIZE } },
  KVM_GET_XCRS: { arg: kvmXcrs }, KVM_SET_XCRS: { arg: kvmXcrs },
  KVM_GET_DIRTY_LOG: { arg: kvmDirtyLog }, KVM_GET_DEBUGREGS: { arg: kvmDebugregs }, KVM_SET_DEBUGREGS: { arg: kvmDebugregs },
};

// The request numbers: those of xen-shinfo-spec.md §6.1, and the rest from a C build of the 6.1 uAPI
// headers (gcc, printf of each macro).
const specNumbers: Partial<Record<RequestName, number>> = {
  KVM_CHECK_EXTENSION: 0xae03, KVM_CREATE_VM: 0xae01, KVM_GET_VCPU_MMAP_SIZE: 0xae04, KVM_GET_SUPPORTED_CPUID: 0xc008ae05,
  KVM_CREATE_VCPU: 0xae41, KVM_SET_USER_MEMORY_REGION: 0x4020ae46, KVM_CREATE_IRQCHIP: 0xae60, KVM_SET_GSI_ROUTING: 0x4008ae6a,
  KVM_IRQFD: 0x4020ae76, KVM_XEN_HVM_CONFIG: 0x4038ae7a, KVM_SET_CLOCK: 0x4030ae7b, KVM_GET_CLOCK: 0x8030ae7c,
  KVM_XEN_HVM_GET_ATTR: 0xc048aec8, KVM_XEN_HVM_SET_ATTR: 0x4048aec9, KVM_XEN_VCPU_GET_ATTR: 0xc048aeca, KVM_XEN_VCPU_SET_ATTR: 0x4048aecb,
  KVM_XEN_HVM_EVTCHN_SEND: 0x400caed0, KVM_RUN: 0xae80, KVM_GET_REGS: 0x8090ae81, KVM_SET_REGS: 0x4090ae82,
  KVM_GET_SREGS: 0x8138ae83, KVM_SET_SREGS: 0x4138ae84, KVM_SET_CPUID2: 0x4008ae90,
};
const headerNumbers: Partial<Record<RequestName, number>> = {
  KVM_GET_API_VERSION: 0xae00, KVM_GET_MSR_INDEX_LIST: 0xc004ae02, KVM_GET_SUPPORTED_HV_CPUID: 0xc008aec1,
  KVM_SIGNAL_MSI: 0x4020aea5, KVM_ENABLE_CAP: 0x4068aea3, KVM_GET_MSRS: 0xc008ae88, KVM_SET_MSRS: 0x4008ae89,
  KVM_GET_LAPIC: 0x8400ae8e, KVM_SET_LAPIC: 0x4400ae8f, KVM_GET_VCPU_EVENTS: 0x8040ae9f, KVM_SET_VCPU_EVENTS: 0x4040aea0,
  KVM_GET_MP_STATE: 0x8004ae98, KVM_SET_MP_STATE: 0x4004ae99, KVM_GET_TSC_KHZ: 0xaea3,
  KVM_SET_TSS_ADDR: 0xae47, KVM_SET_IDENTITY_MAP_ADDR: 0x4008ae48, KVM_IRQ_LINE: 0x4008ae61, KVM_CREATE_PIT2: 0x4040ae77,
  KVM_GET_IRQCHIP: 0xc208ae62, KVM_SET_IRQCHIP: 0x8208ae63, KVM_GET_PIT2: 0x8070ae9f, KVM_SET_PIT2: 0x4070aea0,
  KVM_GET_XSAVE: 0x9000aea4, KVM_SET_XSAVE: 0x5000aea5, KVM_GET_XCRS: 0x8188aea6, KVM_SET_XCRS: 0x4188aea7,
  KVM_GET_DIRTY_LOG: 0x4010ae42, KVM_GET_DEBUGREGS: 0x8080aea1, KVM_SET_DEBUGREGS: 0x4080aea2,
};

const ioctlSize = (number: number): number => (number >>> 16) & 0x3fff;

/** kvm_sregs with only some fields of its segments: the types want whole segments, Struct.write does not. */
const partialSregs = (values: object): Uint8Array => kvmSregs.encode(values as Parameters<typeof kvmSregs.encode>[0]);

t.test('every codec\'s size equals the _IOC_SIZE of its request in the addon\'s table', async (t) => {
  const table = allRequests();
  t.same(table.map((info) => info.name).sort(), Object.keys(codecs).sort(), 'the table and the codec list name the same requests');
  for (const info of table) {
    const codec = codecs[info.name as RequestName];
    const size = codec.arg === 'none' ? 0 : codec.arg.size;
    t.equal(info.size, size, `${info.name}: struct size`);
    t.equal(info.size, ioctlSize(info.number), `${info.name}: the size is the one inside the number`);
    t.equal(info.entrySize, codec.entry?.size ?? 0, `${info.name}: array entry size`);
  }
});

t.test('the ioctl numbers are the kernel\'s', async (t) => {
  const expected = { ...specNumbers, ...headerNumbers };
  t.equal(Object.keys(expected).length, allRequests().length, 'every request has a known number');
  for (const [name, number] of Object.entries(expected)) {
    t.equal(requestInfo(name as RequestName).number, number, `${name} = 0x${number.toString(16)}`);
  }
});

t.test('the fd kinds of each request', async (t) => {
  t.same(requestInfo('KVM_XEN_VCPU_SET_ATTR').kinds, ['vcpu']);
  t.same(requestInfo('KVM_XEN_HVM_SET_ATTR').kinds, ['vm']);
  t.same(requestInfo('KVM_CHECK_EXTENSION').kinds, ['system', 'vm']);
  t.same(requestInfo('KVM_GET_SUPPORTED_HV_CPUID').kinds, ['system', 'vcpu']);
  t.same(requestInfo('KVM_CREATE_VM').kinds, ['system']);
});

t.test('encode refuses values that do not fit their field', async (t) => {
  const fits = struct('fits', 32, { a: u8(0), b: u32(4), c: u64(8), list: array(16, 'u32', 2) });
  const cases: Array<[string, () => unknown, RegExp, ErrorConstructor]> = [
    ['u8 256', () => kvmSegment.encode({ type: 256 }), /^kvm_segment\.type = 256 does not fit u8$/, RangeError],
    ['u8 -1', () => fits.encode({ a: -1 }), /fits\.a = -1 does not fit u8/, RangeError],
    ['u16 65536', () => kvmSegment.encode({ selector: 65536 }), /does not fit u16/, RangeError],
    ['u16 in a nested struct', () => partialSregs({ tr: { selector: 65536 } }), /kvm_segment\.selector = 65536 does not fit u16/, RangeError],
    ['u32 2^32', () => kvmMsrEntry.encode({ index: 2 ** 32 }), /does not fit u32/, RangeError],
    ['i32 2^31', () => kvmXenHvmAttr.encode({ deliverEventfdFd: 2 ** 31 }), /does not fit i32/, RangeError],
    ['i32 -2^31-1', () => kvmXenHvmAttr.encode({ deliverEventfdFd: -(2 ** 31) - 1 }), /does not fit i32/, RangeError],
    ['u64 -1n', () => kvmRegs.encode({ rip: -1n }), /kvm_regs\.rip = -1 does not fit u64/, RangeError],
    ['u64 2^64', () => kvmRegs.encode({ rip: 1n << 64n }), /does not fit u64/, RangeError],
    ['a number for a u64', () => kvmRegs.encode({ rip: 5 as unknown as bigint }), /kvm_regs\.rip must be a bigint/, TypeError],
    ['a bigint for a u32', () => kvmMsrEntry.encode({ index: 5n as unknown as number }), /must be an integer/, TypeError],
    ['1.5', () => fits.encode({ b: 1.5 }), /fits\.b must be an integer/, TypeError],
    ['NaN', () => fits.encode({ b: NaN }), /must be an integer/, TypeError],
    ['a string', () => fits.encode({ b: '1' as unknown as number }), /must be an integer/, TypeError],
    ['too many array items', () => fits.encode({ list: [1, 2, 3] }), /fits\.list must be an array of at most 2/, TypeError],
    ['an array item out of range', () => fits.encode({ list: [1, -1] }), /fits\.list\[1\] = -1 does not fit u32/, RangeError],
    ['an unknown field', () => fits.encode({ nope: 1 } as never), /fits has no field nope/, TypeError],
  ];
  for (const [what, encode, message, type] of cases) t.throws(encode, { name: type.name, message }, what);

  const edges = fits.encode({ a: 255, b: 0xffffffff, c: (1n << 64n) - 1n, list: [0, 0xffffffff] });
  t.same(fits.decode(edges), { a: 255, b: 0xffffffff, c: (1n << 64n) - 1n, list: [0, 0xffffffff] }, 'the extremes round-trip');
  t.throws(() => struct('broken', 8, { x: u64(4) }), /broken\.x lies outside the 8-byte struct/, 'a layout that does not fit its size');
});

t.test('nested structs land at their C offsets', async (t) => {
  const bytes = partialSregs({ cs: { l: 1, selector: 0x8 }, tr: { type: 11 }, efer: 0x500n, interruptBitmap: [0n, 0n, 0n, 1n] });
  const view = viewOf(bytes);
  t.equal(bytes[19], 1, 'cs.l at 19');
  t.equal(view.getUint16(12, true), 8, 'cs.selector at 12');
  t.equal(bytes[144 + 14], 11, 'tr.type at 144 + 14');
  t.equal(view.getBigUint64(264, true), 0x500n, 'efer at 264');
  t.equal(view.getBigUint64(304, true), 1n, 'interrupt_bitmap[3] at 304');
  t.match(kvmSregs.decode(bytes), { cs: { l: 1, selector: 8 }, efer: 0x500n });
});

/** A fake two-page kvm_run: the exit reason and union written by hand, as KVM would. */
function fakeRun(reason: number, fill: (view: DataView) => void): Uint8Array {
  const run = new Uint8Array(8192);
  const view = viewOf(run);
  view.setUint32(kvmRun.exitReason, reason, true);
  fill(view);
  return run;
}

t.test('exits decode from kvm_run', async (t) => {
  const at = kvmRun.exit;
  const io = fakeRun(2, (v) => {
    v.setUint8(at, 1);
    v.setUint8(at + 1, 2);
    v.setUint16(at + 2, 0x3f8, true);
    v.setUint32(at + 4, 3, true);
    v.setBigUint64(at + 8, 4096n, true);
  });
  const exit = decodeExit(io);
  t.match(exit, { reason: 'io', direction: 'out', port: 0x3f8, size: 2, count: 3 });
  if (exit.reason === 'io') {
    t.equal(exit.data.length, 6, 'size × count bytes');
    exit.data[0] = 0x5a;
    t.equal(io[4096], 0x5a, 'the data is a view into kvm_run at data_offset');
  }
  t.match(decodeExit(fakeRun(2, (v) => v.setUint8(at, 0))), { reason: 'io', direction: 'in' });

  // A vCPU's cache: the same data view while the data stays at the same place, a new one when it moves.
  const cache = ioDataCache();
  const view = viewOf(io);
  const first = decodeExit(io, view, cache);
  const again = decodeExit(io, view, cache);
  t.ok(first.reason === 'io' && again.reason === 'io' && first.data === again.data, 'the same place: the same view');
  view.setUint32(at + 4, 1, true);
  const shorter = decodeExit(io, view, cache);
  t.ok(shorter.reason === 'io' && shorter.data.length === 2 && shorter.data.byteOffset === 4096, 'a new length: a new view of it');
  view.setBigUint64(at + 8, 4100n, true);
  const moved = decodeExit(io, view, cache);
  t.ok(moved.reason === 'io' && moved.data.byteOffset === 4100 && moved.data.length === 2, 'a new offset: a new view there');

  const mmio = decodeExit(fakeRun(6, (v) => {
    v.setBigUint64(at, 0xfee000b0n, true);
    v.setUint32(at + 8, 0x11223344, true);
    v.setUint32(at + 16, 64, true);
    v.setUint8(at + 20, 1);
  }));
  t.match(mmio, { reason: 'mmio', address: 0xfee000b0n, isWrite: true, length: 8 }, 'a length above 8 is clamped to the data field');

  const xenRun = fakeRun(34, (v) => {
    v.setUint32(at, 1, true);
    v.setUint32(at + 8, 1, true);
    v.setUint32(at + 12, 3, true);
    v.setBigUint64(at + 16, 24n, true);
    v.setBigUint64(at + 32, 7n, true);
  });
  const xen = decodeExit(xenRun);
  t.match(xen, { reason: 'xen', type: 'hcall', longMode: true, cpl: 3, input: 24n });
  if (xen.reason === 'xen') {
    t.equal(xen.params[0], 7n);
    xen.setResult(0xfffffffffffffff2n);
    t.equal(viewOf(xenRun).getBigUint64(56, true), 0xfffffffffffffff2n, 'the result lands at kvm_run offset 56');
  }

  t.same(decodeExit(fakeRun(5, () => undefined)), { reason: 'hlt' });
  t.same(decodeExit(fakeRun(8, () => undefined)), { reason: 'shutdown' });
  t.same(decodeExit(fakeRun(10, () => undefined)), { reason: 'kicked' });
  t.same(decodeExit(fakeRun(1, (v) => { v.setUint32(at, 13, true); v.setUint32(at + 4, 0x18, true); })), { reason: 'exception', vector: 13, errorCode: 0x18 });
  t.match(decodeExit(fakeRun(17, (v) => { v.setUint32(at, 1, true); v.setUint32(at + 4, 99, true); })), { reason: 'internal-error', suberror: 1 });
  t.equal((decodeExit(fakeRun(17, (v) => v.setUint32(at + 4, 99, true))) as { data: bigint[] }).data.length, 16, 'ndata is clamped to the array');
  t.match(decodeExit(fakeRun(4, () => undefined)), { reason: 'raw', code: 4, name: 'DEBUG' });
  t.match(decodeExit(fakeRun(999, () => undefined)), { reason: 'raw', code: 999, name: 'KVM_EXIT_999' });
});

t.test('KVM_CAP_XEN_HVM decodes into flag names', async (t) => {
  t.same(decodeXenHvmCaps(0x1ff).flags, ['HYPERCALL_MSR', 'INTERCEPT_HCALL', 'SHARED_INFO', 'RUNSTATE', 'EVTCHN_2LEVEL', 'EVTCHN_SEND',
    'RUNSTATE_UPDATE_FLAG', 'PVCLOCK_TSC_UNSTABLE', 'SHARED_INFO_HVA']);
  t.same(decodeXenHvmCaps(0).flags, []);
  const some = decodeXenHvmCaps(0x24);
  t.same(some.flags, ['SHARED_INFO', 'EVTCHN_SEND']);
  t.ok(some.has('SHARED_INFO'));
  t.notOk(some.has('RUNSTATE'));
});

/** The table's host-address rows as the shim's pin rules would describe them. */
function hostAddressRows(table: Readonly<Record<string, AttributeRow>>): HostAddressAttribute[] {
  return Object.entries(table).flatMap(([name, row]) => {
    if (!row.hostAddress) return [];
    const guest = table[row.hostAddress.byGuestAddress];
    return [{ name, type: row.type, guestType: guest?.type ?? -1, bytes: row.hostAddress.bytes }];
  });
}

t.test('every Xen attribute that carries a host address has the shim\'s pin rule, and no other', async (t) => {
  for (const [request, table] of [['KVM_XEN_HVM_SET_ATTR', hvmAttributes], ['KVM_XEN_VCPU_SET_ATTR', vcpuAttributes]] as const) {
    const rows = hostAddressRows(table);
    t.ok(rows.length > 0, `${request}: the table has host-address attributes`);
    t.same(requestInfo(request).hostAddressAttributes, rows, `${request}: native/attribute_pins.cc matches lib/xen/attributes.ts`);
  }
  const others = allRequests().filter((info) => !['KVM_XEN_HVM_SET_ATTR', 'KVM_XEN_VCPU_SET_ATTR'].includes(info.name));
  t.same(others.filter((info) => info.hostAddressAttributes.length > 0).map((info) => info.name), [], 'no other request has any');
});

t.test('the attributes\' save rules name fields once and attributes that exist', async (t) => {
  for (const table of [hvmAttributes, vcpuAttributes] as Readonly<Record<string, AttributeRow>>[]) {
    const fields = Object.values(table).flatMap((row) => (row.save ? [row.save.field] : []));
    t.same([...new Set(fields)], fields, 'each field once');
    for (const [name, row] of Object.entries(table)) {
      const alias = row.save?.orByHostAddress;
      if (alias !== undefined) t.ok(table[alias]?.hostAddress, `${name}: ${alias} is a host-address attribute`);
    }
  }
});

const elfFile = (): Uint8Array => new Uint8Array(fs.readFileSync(guestProgramPath('basics')));

function corrupt(change: (view: DataView, file: Uint8Array) => void): Uint8Array {
  const file = elfFile();
  change(viewOf(file), file);
  return file;
}

/** The ELF with its symbol table moved to 8 zero bytes at the very end, entries `entrySize` bytes apart. */
function symbolTableAtEnd(entrySize: number): Uint8Array {
  const original = elfFile();
  const file = new Uint8Array(original.length + 8);
  file.set(original);
  const view = viewOf(file);
  const shoff = Number(view.getBigUint64(40, true));
  for (let i = 0; i < view.getUint16(60, true); i++) {
    const at = shoff + i * 64;
    if (view.getUint32(at + 4, true) !== 2) continue;
    view.setBigUint64(at + 24, BigInt(original.length), true);
    view.setBigUint64(at + 32, 8n, true);
    view.setBigUint64(at + 56, BigInt(entrySize), true);
  }
  return file;
}

t.test('the ELF loader reads a guest program', async (t) => {
  const image = parseElf(elfFile());
  t.ok(image.segments.some((segment) => segment.executable), 'an executable segment');
  t.ok(image.symbols.has('scenario') && image.symbols.has('guest_idt'), 'the symbols the host uses');
  t.equal(image.entry, image.symbols.get('_start')?.address, 'the entry point is _start');
});

t.test('the ELF loader refuses corrupt files with an ElfError', async (t) => {
  const phoff = Number(viewOf(elfFile()).getBigUint64(32, true));
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['an empty file', new Uint8Array(0), /the ELF header lies outside the file/],
    ['bad magic', corrupt((_, f) => { f[0] = 0x7e; }), /bad magic/],
    ['ELF32', corrupt((_, f) => { f[4] = 1; }), /not ELF64 little-endian/],
    ['big-endian', corrupt((_, f) => { f[5] = 2; }), /not ELF64 little-endian/],
    ['i386', corrupt((v) => v.setUint16(18, 3, true)), /not an x86-64 executable/],
    ['a shared object', corrupt((v) => v.setUint16(16, 3, true)), /not an x86-64 executable/],
    ['program headers past the end', corrupt((v) => v.setBigUint64(32, 1n << 40n, true)), /a program header lies outside the file/],
    ['an entry beyond 2^53', corrupt((v) => v.setBigUint64(24, 1n << 60n, true)), /entry 0x1000000000000000 is too large/],
    ['a segment past the end', corrupt((v) => v.setBigUint64(phoff + 8, 1n << 32n, true)), /a segment lies outside the file/],
    ['memsz below filesz', corrupt((v) => { v.setBigUint64(phoff + 32, 64n, true); v.setBigUint64(phoff + 40, 8n, true); }), /smaller in memory than in the file/],
    ['no PT_LOAD', corrupt((v) => { for (let i = 0; i < v.getUint16(56, true); i++) v.setUint32(phoff + i * 56, 0, true); }), /no loadable segment/],
    ['section headers past the end', corrupt((v) => v.setBigUint64(40, 1n << 40n, true)), /a section header lies outside the file/],
    ['a truncated file', elfFile().subarray(0, 200), /lies outside the file/],
    ['symbol entries smaller than Elf64_Sym, at the end of the file', symbolTableAtEnd(1), /symbol table entries of 1 bytes/],
  ];
  for (const [what, file, message] of cases) {
    t.throws(() => parseElf(file), { name: 'ElfError', message }, what);
  }
});

t.test('random corruption of an ELF file gives an image or an ElfError, nothing else', async (t) => {
  const original = elfFile();
  let seed = 0x12345678;
  const random = (below: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % below;
  };
  // Mostly the headers, where the loader's offsets and counts come from.
  const headerBytes = Math.min(original.length, 4096);
  let refused = 0;
  const others: string[] = [];
  for (let round = 0; round < 3000; round++) {
    const file = original.slice(0, random(4) === 0 ? random(original.length) : original.length);
    for (let flips = 1 + random(4); flips > 0 && file.length > 0; flips--) file[random(Math.min(file.length, headerBytes))] = random(256);
    try {
      parseElf(file);
    } catch (error) {
      if (error instanceof ElfError) refused++;
      else others.push(`round ${round}: ${(error as Error).name}: ${(error as Error).message}`);
    }
  }
  t.same(others.slice(0, 5), [], 'no error other than ElfError');
  t.ok(refused > 100, `${refused} of 3000 corrupt files refused`);
});
