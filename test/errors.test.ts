// Errors on the real /dev/kvm: failed ioctls as KvmErrors that name the ioctl, closed objects, and the
// shim's own refusals before any syscall (wrong fd kind, short buffers, host addresses it did not map),
// and bounds-checked guest memory.
import fs from 'node:fs';
import os from 'node:os';

import t from 'tap';

import { ClosedError, EventFd, Kvm, KvmError } from '../lib/kvm';
import { native, type FdHandle, type Mapping } from '../lib/kvm/native';
import { ioctlCreate, requestIndex, type RequestName } from '../lib/kvm/requests';
import { flexHeader, kvmMsrEntry, kvmUserspaceMemoryRegion } from '../lib/kvm/structs';
import { hvmAttrType, kvmXenHvmAttr, kvmXenVcpuAttr, vcpuAttrType } from '../lib/xen/uapi';
import { kvmOrSkip } from './helpers/kvm';
import { thrownBy } from './helpers/thrown';

const { EEXIST, EINVAL, ENOENT } = os.constants.errno;
const PAGE = 4096;

const raw = (handle: FdHandle, name: RequestName, arg?: number | Uint8Array): unknown => native.ioctl(handle, requestIndex(name), arg);

function regionBytes(slot: number, guestPhysAddr: bigint, memorySize: bigint, userspaceAddr: bigint): Uint8Array {
  return kvmUserspaceMemoryRegion.encode({ slot, flags: 0, guestPhysAddr, memorySize, userspaceAddr });
}

/** A VM with vCPU 0, both closed when the test ends. */
function vmWithVcpu(t: tap.Test, kvm: Kvm): ReturnType<Kvm['createVm']> {
  const vm = kvm.createVm();
  t.teardown(() => vm.close());
  vm.createVcpu(0);
  return vm;
}

t.test('a failed ioctl is a KvmError with code, errno, syscall and the ioctl\'s name', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const vm = kvm.createVm();
  t.teardown(() => vm.close());
  // Raw requests: Vm.createVcpu refuses a second id 0 itself, before the kernel can.
  const first = ioctlCreate(vm.handle, 'KVM_CREATE_VCPU', 0);
  t.teardown(() => first.close());
  t.throws(() => ioctlCreate(vm.handle, 'KVM_CREATE_VCPU', 0), {
    name: 'KvmError', code: 'EEXIST', errno: EEXIST, syscall: 'ioctl', ioctl: 'KVM_CREATE_VCPU',
    message: 'KVM_CREATE_VCPU failed: EEXIST (file already exists)',
  }, 'vCPU id 0 twice');

  t.throws(() => vm.addMemory({ slot: 1, guestAddress: 0x1001, size: PAGE }), {
    code: 'EINVAL', errno: EINVAL, syscall: 'ioctl', ioctl: 'KVM_SET_USER_MEMORY_REGION',
    message: /^KVM_SET_USER_MEMORY_REGION failed: EINVAL \(invalid argument\)$/,
  }, 'a guest address that is not page-aligned');
  t.equal(vm.memory.slot(1), undefined, 'the failed slot is not recorded');

  vm.addMemory({ slot: 2, guestAddress: 0x100000, size: 2 * PAGE });
  t.throws(() => vm.addMemory({ slot: 3, guestAddress: 0x101000, size: PAGE }), { code: 'EEXIST', ioctl: 'KVM_SET_USER_MEMORY_REGION' },
    'a slot overlapping another');

  const error = thrownBy(() => Kvm.open('/dev/kvm-does-not-exist'));
  t.type(error, KvmError);
  t.match(error, { code: 'ENOENT', errno: ENOENT, syscall: 'open', ioctl: undefined, message: /^open failed: ENOENT .*: \/dev\/kvm-does-not-exist$/ });
});

t.test('closed objects throw ClosedError (ERR_KVM_CLOSED), in TypeScript and in the shim', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const vm = kvm.createVm();
  const vcpu = vm.createVcpu(0);
  const eventFd = EventFd.create();

  vcpu.close();
  t.ok(vcpu.closed);
  t.throws(() => vcpu.getRegs(), ClosedError);
  t.throws(() => vcpu.runSync(), { code: 'ERR_KVM_CLOSED' });
  await t.rejects(vcpu.runAsync(), { code: 'ERR_KVM_CLOSED' });
  t.throws(() => raw(vcpu.handle, 'KVM_GET_REGS', new Uint8Array(144)), { code: 'ERR_KVM_CLOSED', message: 'the vcpu fd is closed' }, 'raw addon');
  t.doesNotThrow(() => vcpu.close(), 'close twice');

  vm.addMemory({ slot: 0, guestAddress: 0, size: PAGE });
  vm.close();
  t.throws(() => vm.createVcpu(1), { name: 'ClosedError', message: 'Vm is closed' });
  t.throws(() => vm.addMemory({ slot: 1, guestAddress: 0x10000, size: PAGE }), ClosedError);
  t.throws(() => vm.setGsiRouting([]), ClosedError);
  t.throws(() => vm.memory.read8(0), 'guest memory is gone with the VM');
  t.throws(() => raw(vm.handle, 'KVM_CREATE_IRQCHIP'), { code: 'ERR_KVM_CLOSED' });

  eventFd.close();
  t.throws(() => eventFd.write(), ClosedError);
  t.throws(() => native.eventfdWrite(eventFd.handle, 1n), { code: 'ERR_KVM_CLOSED' });

  const kvm2 = kvmOrSkip(t)!;
  const survivor = kvm2.createVm();
  t.teardown(() => survivor.close());
  kvm2.close();
  t.throws(() => kvm2.apiVersion(), { code: 'ERR_KVM_CLOSED', message: 'Kvm is closed' });
  t.throws(() => kvm2.createVm(), ClosedError);
  t.equal(survivor.checkExtension('KVM_CAP_USER_MEMORY'), 1, 'a VM outlives the /dev/kvm fd it came from');
});

t.test('an ioctl on the wrong kind of fd is refused before the syscall', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const vm = vmWithVcpu(t, kvm);
  const vcpu = vm.vcpu(0)!;
  const eventFd = EventFd.create();
  t.teardown(() => eventFd.close());
  const wrongKind = { name: 'TypeError', code: 'ERR_KVM_WRONG_FD_KIND' };
  // Had these reached the kernel, they would have returned -ENOTTY as a number, not thrown.
  t.throws(() => raw(vcpu.handle, 'KVM_CREATE_IRQCHIP'), { ...wrongKind, message: /than a vcpu fd$/ }, 'a VM ioctl on a vCPU fd');
  t.throws(() => raw(vm.handle, 'KVM_GET_REGS', new Uint8Array(144)), { ...wrongKind, message: /than a vm fd$/ }, 'a vCPU ioctl on a VM fd');
  t.throws(() => raw(vm.handle, 'KVM_CREATE_VM', 0), wrongKind, 'a system ioctl on a VM fd');
  t.throws(() => raw(eventFd.handle, 'KVM_GET_API_VERSION'), wrongKind, 'a KVM ioctl on an eventfd');
  t.throws(() => raw(kvm.handle, 'KVM_GET_REGS', new Uint8Array(144)), wrongKind, 'a vCPU ioctl on /dev/kvm');
  t.throws(() => vcpu.ioctl('KVM_CREATE_IRQCHIP'), wrongKind, 'through Vcpu.ioctl');
  t.throws(() => vm.ioctl('KVM_SET_REGS', new Uint8Array(144)), wrongKind, 'through Vm.ioctl');
  t.throws(() => native.eventfdWrite(vm.handle, 1n), wrongKind, 'eventfd write on a VM fd');
  t.throws(() => native.mapVcpuRun(vm.handle, PAGE), wrongKind, 'kvm_run of a VM fd');
  t.throws(() => new native.VcpuRunner(vm.handle, native.mapAnonymous(PAGE) as Mapping, () => undefined), wrongKind, 'a runner on a VM fd');
  t.throws(() => raw(vcpu.handle, 'KVM_RUN'), { code: 'ERR_KVM_USE_RUNNER' }, 'KVM_RUN only through the runner');
  t.throws(() => native.ioctl({ fd: vm.handle.fd } as unknown as FdHandle, requestIndex('KVM_CREATE_IRQCHIP')),
    { code: 'ERR_INVALID_ARG_TYPE' }, 'a look-alike object is not a handle');
  t.equal(raw(vcpu.handle, 'KVM_GET_REGS', new Uint8Array(144)), 0, 'the right kind of request on the same fd works');
});

t.test('a runner\'s own runSync (the hot path skips napi_unwrap) runs that runner whatever `this`, and refuses it closed', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const vcpu = vmWithVcpu(t, kvm).vcpu(0)!;
  const mapping = native.mapVcpuRun(vcpu.handle, vcpu.run.length) as Mapping;
  t.teardown(() => mapping.unmap());
  const runner = new native.VcpuRunner(vcpu.handle, mapping, () => undefined);
  const runSync = runner.runSync;
  t.ok(Object.hasOwn(runner, 'runSync'), 'an own function of the instance');
  t.throws(() => Reflect.apply(runSync, {}, ['soon']), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }, 'a bad timeout is still refused');
  t.throws(() => runSync.call({}, -1), { name: 'RangeError' }, 'and a negative one');
  runner.close();
  t.throws(() => runSync.call(mapping), { code: 'ERR_KVM_CLOSED' }, 'a closed runner, through the function alone');
});

t.test('an addon object used as another class is refused, never misread', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const mapping = native.mapAnonymous(PAGE) as Mapping;
  t.teardown(() => mapping.unmap());
  const getter = (cls: object, name: string): (() => unknown) =>
    Object.getOwnPropertyDescriptor((cls as { prototype: object }).prototype, name)!.get as () => unknown;
  const invalidThis = { name: 'TypeError', code: 'ERR_INVALID_THIS' };
  // V8 checks the receiver of a method, but not of an accessor: the shim checks the class's tag.
  t.throws(() => getter(native.Mapping, 'buffer').call(kvm.handle), invalidThis, 'Mapping#buffer on an FdHandle');
  t.throws(() => getter(native.FdHandle, 'fd').call(mapping), invalidThis, 'FdHandle#fd on a Mapping');
  t.throws(() => getter(native.VcpuRunner, 'busy').call(mapping), invalidThis, 'VcpuRunner#busy on a Mapping');
  t.throws(() => getter(native.FdHandle, 'kind').call({}), invalidThis, 'on a plain object');
  t.throws(() => Reflect.apply(native.Mapping.prototype.unmap, kvm.handle, []), /Illegal invocation/, 'a method on another class');
  const impostor = native.mapAnonymous(PAGE) as Mapping;
  Object.setPrototypeOf(impostor, native.FdHandle.prototype);
  t.ok(impostor instanceof native.FdHandle, 'instanceof is fooled by a prototype swap');
  t.throws(() => native.ioctl(impostor as unknown as FdHandle, requestIndex('KVM_GET_API_VERSION')), { code: 'ERR_INVALID_ARG_TYPE' }, 'the shim is not');
  t.throws(() => native.ioctl(Object.create(native.FdHandle.prototype) as FdHandle, requestIndex('KVM_GET_API_VERSION')), { code: 'ERR_INVALID_ARG_TYPE' },
    'nor by an object that merely inherits from FdHandle');
  t.equal(kvm.handle.kind, 'system', 'the real objects still work');
  t.equal(mapping.size, PAGE);
});

t.test('buffers shorter than the request\'s struct are refused', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const vm = vmWithVcpu(t, kvm);
  const vcpu = vm.vcpu(0)!;
  t.throws(() => vcpu.ioctl('KVM_GET_REGS', new Uint8Array(143)), {
    name: 'RangeError', code: 'ERR_BUFFER_TOO_SMALL', message: 'KVM_GET_REGS needs a buffer of at least 144 bytes, got 143',
  });
  t.throws(() => raw(vcpu.handle, 'KVM_SET_SREGS', new Uint8Array(0)), { code: 'ERR_BUFFER_TOO_SMALL' });

  // A flexible array whose count promises more entries than the buffer holds.
  const msrs = new Uint8Array(flexHeader.size + kvmMsrEntry.size);
  flexHeader.write(new DataView(msrs.buffer), 0, { count: 2 });
  t.throws(() => vcpu.ioctl('KVM_GET_MSRS', msrs), { code: 'ERR_BUFFER_TOO_SMALL', message: 'KVM_GET_MSRS with 2 entries needs 40 bytes, got 24' });
  const cpuid = new Uint8Array(16);
  flexHeader.write(new DataView(cpuid.buffer), 0, { count: 0xffffffff });
  t.throws(() => raw(kvm.handle, 'KVM_GET_SUPPORTED_CPUID', cpuid), { code: 'ERR_BUFFER_TOO_SMALL' }, 'a huge count does not wrap');

  const detached = new ArrayBuffer(144);
  const view = new Uint8Array(detached);
  structuredClone(detached, { transfer: [detached] });
  t.throws(() => raw(vcpu.handle, 'KVM_GET_REGS', view), { code: 'ERR_BUFFER_TOO_SMALL', message: /got 0$/ }, 'a detached buffer has no bytes');

  const shared = { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /must not be shared memory/ };
  // Another thread could change shared bytes between the shim's checks and the kernel's read.
  t.throws(() => raw(vcpu.handle, 'KVM_GET_REGS', new Uint8Array(new SharedArrayBuffer(144))), shared, 'a view of a SharedArrayBuffer');
  t.throws(() => raw(kvm.handle, 'KVM_GET_SUPPORTED_CPUID', new DataView(new SharedArrayBuffer(8 + 40)) as unknown as Uint8Array), shared, 'a shared flexible array');
  t.throws(() => raw(vcpu.handle, 'KVM_GET_REGS', 144), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }, 'a number for a struct');
  t.throws(() => raw(kvm.handle, 'KVM_CHECK_EXTENSION', '38' as unknown as number), { code: 'ERR_INVALID_ARG_TYPE' }, 'a string for a value');
  for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
    t.throws(() => raw(kvm.handle, 'KVM_CHECK_EXTENSION', bad), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }, `value ${bad}`);
  }
  t.throws(() => native.ioctl(kvm.handle, 1e6), { code: 'ERR_OUT_OF_RANGE' }, 'an unknown request index');
  t.equal(raw(vcpu.handle, 'KVM_GET_REGS', new Uint8Array(200)), 0, 'a longer buffer is fine');
});

t.test('guest memory access is bounds-checked', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const vm = kvm.createVm();
  t.teardown(() => vm.close());
  const base = 0x100000;
  const size = 0x10000;
  const region = vm.addMemory({ slot: 0, guestAddress: base, size });
  const memory = vm.memory;
  const notBacked = { name: 'RangeError', message: /is not backed by a memory slot/ };
  t.throws(() => memory.read64(0), notBacked, 'below the slot');
  t.throws(() => memory.read8(base + size), notBacked, 'just past its end');
  t.throws(() => memory.read64(base + size - 4), notBacked, 'a read that crosses the end');
  t.throws(() => memory.bytes(base, size + 1), notBacked);
  for (const bad of [-8, NaN, 1.5, 2 ** 53, Infinity]) t.throws(() => memory.read32(bad), { name: 'RangeError' }, `GPA ${bad}`);
  t.throws(() => memory.bytes(base, -1), { name: 'RangeError' }, 'negative length');
  t.throws(() => region.hostAddressOf(base - 1), { name: 'RangeError' });

  memory.write64(base + size - 8, 0x0102030405060708n);
  t.equal(memory.read64(base + size - 8), 0x0102030405060708n, 'the last eight bytes are fine');
  memory.bytes(base + size - 3, 3).set([0x61, 0x62, 0x63]);
  t.equal(memory.readCString(base + size - 3), 'abc', 'a string without NUL stops at the slot\'s end');
});

t.test('host addresses the addon did not map never reach the kernel', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const vm = vmWithVcpu(t, kvm);
  const vcpu = vm.vcpu(0)!;
  const mapping = native.mapAnonymous(4 * PAGE) as Mapping;
  t.teardown(() => mapping.unmap());
  const badAddress = { name: 'RangeError', code: 'ERR_KVM_BAD_ADDRESS' };
  const setRegion = (bytes: Uint8Array): unknown => raw(vm.handle, 'KVM_SET_USER_MEMORY_REGION', bytes);

  t.throws(() => setRegion(regionBytes(5, 0x100000n, BigInt(PAGE), 0x10000n)), badAddress, 'an address nobody mapped');
  t.throws(() => setRegion(regionBytes(5, 0x100000n, BigInt(8 * PAGE), mapping.address)), badAddress, 'a size past the mapping\'s end');
  t.throws(() => setRegion(regionBytes(5, 0x100000n, BigInt(2 * PAGE), mapping.address + BigInt(3 * PAGE))), badAddress, 'an offset that runs past the end');
  t.throws(() => setRegion(regionBytes(5, 0x100000n, 0xfffffffffffff000n, mapping.address + BigInt(PAGE))), badAddress, 'a size that wraps around');
  const run = native.mapVcpuRun(vcpu.handle, PAGE) as Mapping;
  t.throws(() => setRegion(regionBytes(5, 0x100000n, BigInt(PAGE), run.address)), badAddress, 'a kvm_run page is never guest memory');
  run.unmap();
  const gone = native.mapAnonymous(PAGE) as Mapping;
  const goneAddress = gone.address;
  gone.unmap();
  t.throws(() => setRegion(regionBytes(5, 0x100000n, BigInt(PAGE), goneAddress)), badAddress, 'a mapping the user unmapped');

  t.throws(() => raw(vm.handle, 'KVM_XEN_HVM_SET_ATTR', kvmXenHvmAttr.encode({ type: hvmAttrType.SHARED_INFO_HVA, u64: 0x10000n })),
    badAddress, 'a Xen shared_info HVA (refused before the kernel, Xen or not)');
  t.throws(() => vcpu.ioctl('KVM_XEN_VCPU_SET_ATTR', kvmXenVcpuAttr.encode({ type: vcpuAttrType.VCPU_INFO_HVA, u64: mapping.address + BigInt(4 * PAGE - 32) })),
    badAddress, 'a vcpu_info HVA that crosses the mapping\'s end');

  t.doesNotThrow(() => vcpu.tryIoctl('KVM_XEN_VCPU_SET_ATTR', kvmXenVcpuAttr.encode({ type: vcpuAttrType.VCPU_INFO_HVA, u64: 0n })),
    'a vcpu_info HVA of 0 (which disables it) goes to the kernel');
  t.equal(setRegion(regionBytes(5, 0x100000n, BigInt(4 * PAGE), mapping.address)), 0, 'the whole mapping is accepted');
});

t.test('a vCPU fd is mapped no further than KVM_GET_VCPU_MMAP_SIZE (KVM raises SIGBUS past it)', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const vm = vmWithVcpu(t, kvm);
  const size = kvm.vcpuMmapSize();
  t.throws(() => native.mapVcpuRun(vm.vcpu(0)!.handle, size + PAGE), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  const run = native.mapVcpuRun(vm.vcpu(0)!.handle, size) as Mapping;
  t.teardown(() => run.unmap());
  t.equal(new Uint8Array(run.buffer)[size - 1], 0, 'its last byte is readable');
});

t.test('a memory slot keeps its host memory mapped after JavaScript lets go, until the slot is deleted', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const vm = kvm.createVm();
  t.teardown(() => vm.close());
  const mapping = native.mapAnonymous(4 * PAGE) as Mapping;
  const start = mapping.address;
  const mapped = (): boolean => isMapped(start);
  t.equal(raw(vm.handle, 'KVM_SET_USER_MEMORY_REGION', regionBytes(0, 0n, BigInt(4 * PAGE), start)), 0);
  mapping.unmap();
  t.throws(() => mapping.buffer, { code: 'ERR_KVM_UNMAPPED' }, 'JavaScript cannot reach the bytes');
  t.ok(mapped(), 'the kernel\'s slot still has them');
  t.equal(raw(vm.handle, 'KVM_SET_USER_MEMORY_REGION', regionBytes(0, 0n, 0n, 0n)), 0, 'slot deleted');
  t.notOk(mapped(), 'now they are unmapped');
});

/** Whether /proc/self/maps has a mapping that contains `address`. */
function isMapped(address: bigint): boolean {
  return fs.readFileSync('/proc/self/maps', 'utf8').split('\n').some((line) => {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    return range !== null && BigInt(`0x${range[1]}`) <= address && address < BigInt(`0x${range[2]}`);
  });
}
