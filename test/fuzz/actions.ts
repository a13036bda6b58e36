// The fuzz child's calls: each action makes one call into the library's public API or straight into the
// addon, with a target and arguments drawn from the world's pools and the adversarial values. A call
// may throw (that is counted, and expected for most of them); it must never crash the process.
//
// Runs and waits always carry a bounded timeout (never 0, which means "no limit"): a guest given random
// registers may legitimately run forever.
import { GuestMachine, parseElf } from '../../lib/guest';
import { decodeExit, decodeXenHvmCaps, EventFd, Kvm, type Vcpu, type Vm } from '../../lib/kvm';
import { native, type FdHandle, type Mapping } from '../../lib/kvm/native';
import { allRequests, type RequestName } from '../../lib/kvm/requests';
import { kvmRegs, kvmSregs, kvmUserspaceMemoryRegion } from '../../lib/kvm/structs';
import { guestProgramPath } from '../../lib/paths';
import { hvmAttributes, vcpuAttributes, XenVcpu, XenVm } from '../../lib/xen';
import { anyValue, boundedTimeout, smallOrAny, someBytes } from './random';
import type { World } from './world';

export type Action = (world: World) => unknown;

const requests = allRequests();
const requestNames = requests.map((request) => request.name as RequestName);
const PAGE = 4096;

const any = (w: World): unknown => anyValue(w.random, w.live());
const anyArgs = (w: World, most = 4): unknown[] => Array.from({ length: w.random.int(most + 1) }, () => any(w));
const call = (target: unknown, method: string, args: unknown[]): unknown =>
  Reflect.apply((target as Record<string, (...a: unknown[]) => unknown>)[method]!, target, args);

function someOf<T>(w: World, items: readonly T[] | undefined): T | unknown {
  return items && items.length > 0 && w.random.chance(0.85) ? w.random.pick(items) : any(w);
}

/** A guest physical address: in or near the usual slots mostly, anything sometimes. */
function gpa(w: World): unknown {
  return w.random.chance(0.8)
    ? w.random.pick([0, 8, PAGE, 0x1fff, 0x200000, 0xfffff8, 16 << 20, (16 << 20) - 3, 0xd0000000, 2 ** 32, w.random.int(1 << 25)])
    : any(w);
}

/** Bytes shaped like a kvm_userspace_memory_region, pointing into one of the run's mappings (or not). */
function memoryRegion(w: World): Uint8Array {
  const mapping = w.mappings.pick(w.random);
  const base = mapping && !mapping.unmapped ? mapping.address : w.random.bigint64();
  const size = BigInt(w.random.pick([0, PAGE, 2 * PAGE, 16 * PAGE, 1 << 21]));
  return kvmUserspaceMemoryRegion.encode({
    slot: w.random.int(6), flags: w.random.pick([0, 0, 1, 2, 4]), guestPhysAddr: BigInt(w.random.int(64) * PAGE),
    memorySize: size, userspaceAddr: (base + BigInt(w.random.int(4) * PAGE)) & ((1n << 64n) - 1n),
  });
}

/** The argument of a raw ioctl: right-sized bytes (sometimes not), a number, or anything. */
function ioctlArgument(w: World, index: number): unknown {
  const request = requests[index];
  if (request?.name === 'KVM_SET_USER_MEMORY_REGION' && w.random.chance(0.7)) return memoryRegion(w);
  if (request && request.size === 0) return w.random.chance(0.8) ? w.random.int(64) : any(w);
  return w.random.chance(0.85) ? someBytes(w.random, (request?.size ?? 64) + (request?.entrySize ?? 0) * w.random.int(3)) : any(w);
}

function requestIndex(w: World): number {
  return w.random.chance(0.95) ? w.random.int(requests.length) : w.random.pick([-1, requests.length, 1e9, NaN]);
}

function keep(w: World, result: unknown): unknown {
  if (result instanceof native.FdHandle) w.handles.add(result as FdHandle);
  else if (result instanceof native.Mapping) w.mappings.add(result as Mapping);
  return result;
}

// ---- the addon, raw ----

const nativeFunctions = ['requests', 'openDevice', 'ioctl', 'mapAnonymous', 'mapVcpuRun', 'eventfd', 'eventfdWrite', 'eventfdRead', 'readRunDelay'] as const;

const rawActions: Array<[number, string, Action]> = [
  [6, 'native.<function>(anything)', (w) => keep(w, call(native, w.random.pick(nativeFunctions), anyArgs(w)))],
  [10, 'native.ioctl(handle, request, argument)', (w) => {
    const index = requestIndex(w);
    return keep(w, native.ioctl(someOf(w, w.handles.items) as FdHandle, index, ioctlArgument(w, index) as Uint8Array));
  }],
  [3, 'native.openDevice', (w) => keep(w, native.openDevice(w.random.pick(['/dev/kvm', '/dev/kvm', '/dev/null', '/nonexistent', '']) as string))],
  [3, 'native.mapAnonymous', (w) => keep(w, native.mapAnonymous(w.random.pick([PAGE, 16 * PAGE, 1 << 21, 2 ** 32, 2 ** 32 + PAGE, 0, PAGE + 1, -PAGE, NaN]) as number))],
  [2, 'native.mapVcpuRun', (w) => keep(w, native.mapVcpuRun(someOf(w, w.handles.items) as FdHandle, w.random.pick([PAGE, 3 * PAGE, 1, 1 << 24, 1 << 25]) as number))],
  [2, 'native.eventfd', (w) => keep(w, native.eventfd(smallOrAny(w.random, 10, w.live()) as number, (w.random.chance(0.8) ? w.random.chance(0.5) : any(w)) as boolean))],
  [2, 'native.yieldUntilRunDelay (bounded)', (w) => native.yieldUntilRunDelay(w.random.pick([0, 1, 1000, 1e12, -1, NaN]) as number, boundedTimeout(w.random) as number)],
  [6, 'a method of an addon object', (w) => callNativeMethod(w, w.random.pick([...w.handles.items, ...w.mappings.items, ...w.runners.items, ...w.loops.items, ...w.graveyard, {}]))],
  [4, 'an addon method on the wrong receiver', (w) => callNativeMethod(w, any(w), true)],
  [3, 'new native.VcpuRunner', (w) => {
    const handle = someOf(w, w.handles.items.filter((h) => !h.closed && h.kind === 'vcpu'));
    const mapping = someOf(w, w.mappings.items);
    const runner = new native.VcpuRunner(handle as FdHandle, mapping as Mapping, w.random.chance(0.9) ? () => undefined : any(w) as () => void);
    w.runners.add(runner);
    return runner;
  }],
  [2, 'new native.IoctlLoop', (w) => {
    const entries = w.random.chance(0.8)
      ? Array.from({ length: 1 + w.random.int(3) }, () => {
        const index = requestIndex(w);
        return { request: index, arg: ioctlArgument(w, index), stopPoint: w.random.chance(0.7) };
      })
      : any(w);
    const loop = new native.IoctlLoop(someOf(w, w.handles.items) as FdHandle, entries as []);
    w.loops.add(loop);
    return loop;
  }],
  [3, 'the bytes of a mapping or a kvm_run page', (w) => {
    const source = w.random.chance(0.7) ? w.mappings.pick(w.random) : undefined;
    const bytes = new Uint8Array(source ? source.buffer : (vcpuOf(w)?.run.buffer ?? new ArrayBuffer(8)) as ArrayBuffer);
    const offset = w.random.chance(0.5) ? bytes.length - 1 - w.random.int(64) : w.random.int(bytes.length + 64);
    if (w.random.chance(0.5)) bytes[offset] = w.random.int(256);
    return bytes[offset];
  }],
  [1, 'new native.FdHandle / Mapping', (w) => keep(w, w.random.chance(0.5) ? new native.FdHandle() : new native.Mapping())],
];

const nativeClasses = [native.FdHandle, native.Mapping, native.VcpuRunner, native.IoctlLoop];

/** A method or accessor of an addon class, on `target` (of that class, or on purpose not). */
function callNativeMethod(w: World, target: unknown, wrongReceiver = false): unknown {
  const classes = wrongReceiver ? nativeClasses : nativeClasses.filter((c) => target instanceof c);
  const prototype = (classes.length > 0 ? w.random.pick(classes) : w.random.pick(nativeClasses)).prototype as object;
  const name = w.random.pick(Object.getOwnPropertyNames(prototype).filter((key) => key !== 'constructor'));
  const descriptor = Object.getOwnPropertyDescriptor(prototype, name)!;
  if (descriptor.get) return Reflect.apply(descriptor.get, target, []);
  return Reflect.apply(descriptor.value as (...a: unknown[]) => unknown, target, runnerArgs(w, name));
}

/** Arguments for a method by name; the runner's runs and yields get bounded timeouts. */
function runnerArgs(w: World, method: string): unknown[] {
  switch (method) {
    case 'runSync': return [boundedTimeout(w.random)];
    case 'runAsync': return [boundedTimeout(w.random), w.random.pick([0, 50, 10000, 10001, -1, NaN])];
    case 'yieldAsync': return [w.random.pick([0, 1000, 1e12, -1]), boundedTimeout(w.random)];
    case 'ioctl': {
      const index = requestIndex(w);
      return [index, ioctlArgument(w, index)];
    }
    case 'remapZero': return [w.random.pick([0, PAGE, 1, -PAGE, 2 ** 40, NaN]), w.random.pick([PAGE, 2 * PAGE, 0, 1, 2 ** 40])];
    default: return anyArgs(w, 2);
  }
}

// ---- the public API ----

const vmOf = (w: World): Vm | undefined => w.vms.pick(w.random) ?? w.machines.pick(w.random)?.vm;
const vcpuOf = (w: World): Vcpu | undefined => w.vcpus.pick(w.random) ?? w.machines.pick(w.random)?.vcpu;
const runOptions = (w: World): unknown => ({ timeoutMs: boundedTimeout(w.random) });

function randomRegs(w: World): Record<string, unknown> {
  const fields = Object.keys(kvmRegs.fields);
  return Object.fromEntries(Array.from({ length: 1 + w.random.int(3) }, () => [w.random.pick(fields), w.random.chance(0.8) ? w.random.bigint64() : any(w)]));
}

function randomSregs(w: World): Record<string, unknown> {
  const choice = w.random.pick(['cr0', 'cr3', 'cr4', 'efer', 'cs', 'idt', 'apicBase']);
  if (choice === 'cs') return { cs: { l: w.random.int(2), type: w.random.int(16), selector: smallOrAny(w.random, 65536, []), present: w.random.int(2) } };
  if (choice === 'idt') return { idt: { base: w.random.bigint64(), limit: w.random.int(65536) } };
  return { [choice]: w.random.chance(0.8) ? w.random.bigint64() & w.random.pick([0xffffn, 0xffffffffn, (1n << 64n) - 1n]) : any(w) };
}

const kvmMethods: Record<string, (w: World) => unknown[]> = {
  apiVersion: () => [], checkExtension: (w) => [w.random.chance(0.5) ? w.random.pick(['KVM_CAP_XEN_HVM', 'KVM_CAP_IRQFD', 'nope']) : smallOrAny(w.random, 300, [])],
  xenHvmCaps: () => [], vcpuMmapSize: () => [], supportedCpuid: () => [], supportedHvCpuid: () => [],
  createVm: (w) => (w.random.chance(0.8) ? [] : [any(w)]), close: () => [],
};

const vmMethods: Record<string, (w: World) => unknown[]> = {
  checkExtension: (w) => [any(w)],
  addMemory: (w) => [{
    slot: smallOrAny(w.random, 4, w.live()), guestAddress: w.random.pick([0, 0x100000, 0x1001, 0xd0000000, -PAGE, any(w)]),
    size: w.random.pick([PAGE, 16 * PAGE, 1 << 21, 0, PAGE - 1, 2 ** 33, any(w)]), flags: w.random.pick([undefined, 0, 1, 2, 4, 1 << 30, any(w)]),
  }],
  removeMemory: (w) => [smallOrAny(w.random, 4, w.live())],
  createIrqchip: () => [],
  createVcpu: (w) => [smallOrAny(w.random, 4, w.live())],
  setGsiRouting: (w) => [Array.from({ length: w.random.int(4) }, () => ({
    gsi: smallOrAny(w.random, 32, []), type: w.random.pick(['msi', 'xen-evtchn', 'irqchip', 'bogus']), address: w.random.pick([0xfee00000n, w.random.bigint64(), 5]),
    data: smallOrAny(w.random, 256, []), port: smallOrAny(w.random, 4096, []), vcpu: smallOrAny(w.random, 4, []), irqchip: smallOrAny(w.random, 3, []), pin: smallOrAny(w.random, 24, []),
  }))],
  assignIrqfd: (w) => [someOf(w, w.eventFds.items), smallOrAny(w.random, 32, w.live())],
  deassignIrqfd: (w) => [someOf(w, w.eventFds.items), smallOrAny(w.random, 32, w.live())],
  signalMsi: (w) => [w.random.pick([0xfee00000n, w.random.bigint64(), any(w)]), smallOrAny(w.random, 256, w.live())],
  getClock: () => [], setClock: (w) => [w.random.chance(0.8) ? w.random.bigint64() : any(w), { flags: smallOrAny(w.random, 16, []) }],
  ioctl: (w) => [w.random.pick(requestNames), someBytes(w.random, 72)], tryIoctl: (w) => [w.random.pick(requestNames), w.random.chance(0.5) ? w.random.int(64) : someBytes(w.random)],
  vcpu: (w) => [any(w)], close: () => [],
};

const vcpuMethods: Record<string, (w: World) => unknown[]> = {
  getRegs: () => [], setRegs: (w) => [randomRegs(w)], getSregs: () => [], setSregs: (w) => [randomSregs(w)],
  getMsrs: (w) => [Array.from({ length: w.random.int(4) }, () => w.random.pick([0x10, 0xc0000080, 0x1b, 0x4b564d01, w.random.int(2 ** 32), -1]))],
  setMsrs: (w) => [Array.from({ length: w.random.int(3) }, () => [w.random.pick([0x10, 0x1b, 0x4b564d01, 0x4b564d03, w.random.int(2 ** 32)]), w.random.chance(0.8) ? w.random.bigint64() : any(w)])],
  setCpuid: (w) => [w.random.chance(0.5) ? (w.kvms.pick(w.random)?.supportedCpuid() ?? []) : [{ function: any(w), index: 0, flags: 0, eax: 1, ebx: 2, ecx: 3, edx: 4 }]],
  getLapic: () => [], setLapic: (w) => [someBytes(w.random, 1024)], getMpState: () => [], setMpState: (w) => [smallOrAny(w.random, 10, [])],
  getEvents: () => [], setEvents: (w) => [{ exceptionInjected: w.random.int(2), exceptionNr: w.random.int(256), nmiPending: w.random.int(2), flags: smallOrAny(w.random, 64, []) }],
  ioctl: (w) => [w.random.pick(requestNames), someBytes(w.random, 144)], tryIoctl: (w) => [w.random.pick(requestNames), someBytes(w.random, 312)],
  runSync: (w) => [runOptions(w)], runAsync: (w) => [runOptions(w)], completePendingIo: () => [], kick: () => [],
  yieldUntilRunDelay: (w) => [w.random.pick([0, 1, 1e6, 1e12, -1, NaN]), boundedTimeout(w.random)], close: () => [],
};

const memoryMethods: Record<string, (w: World) => unknown[]> = {
  read8: (w) => [gpa(w)], read16: (w) => [gpa(w)], read32: (w) => [gpa(w)], read64: (w) => [gpa(w)],
  write8: (w) => [gpa(w), smallOrAny(w.random, 300, [])], write16: (w) => [gpa(w), smallOrAny(w.random, 70000, [])],
  write32: (w) => [gpa(w), smallOrAny(w.random, 2 ** 33, [])], write64: (w) => [gpa(w), w.random.chance(0.8) ? w.random.bigint64() : any(w)],
  bytes: (w) => [gpa(w), smallOrAny(w.random, 1 << 22, [])], view: (w) => [gpa(w), smallOrAny(w.random, 64, [])],
  readCString: (w) => [gpa(w), smallOrAny(w.random, 10000, [])], writeBytes: (w) => [gpa(w), someBytes(w.random, 16)],
  hostAddressOf: (w) => [gpa(w)], regionOf: (w) => [gpa(w), smallOrAny(w.random, 1 << 22, [])],
};

function callPublic(w: World, target: unknown, methods: Record<string, (w: World) => unknown[]>): unknown {
  const name = w.random.pick(Object.keys(methods));
  const result = call(target ?? any(w), name, methods[name]!(w));
  if (result instanceof Promise) w.track(result);
  return result;
}

const publicActions: Array<[number, string, Action]> = [
  [2, 'Kvm.open', (w) => {
    const kvm = Kvm.open(w.random.chance(0.9) ? '/dev/kvm' : any(w) as string);
    w.kvms.add(kvm);
    return kvm;
  }],
  [5, 'a Kvm method', (w) => {
    const result = callPublic(w, w.kvms.pick(w.random) ?? w.graveyard[0], kvmMethods);
    if (result && typeof result === 'object' && 'memory' in result) w.vms.add(result as Vm);
    return result;
  }],
  [10, 'a Vm method', (w) => {
    const result = callPublic(w, vmOf(w), vmMethods);
    if (result && typeof result === 'object' && 'runSync' in result) w.vcpus.add(result as Vcpu);
    return result;
  }],
  [12, 'a Vcpu method', (w) => callPublic(w, vcpuOf(w), vcpuMethods)],
  [8, 'guest memory', (w) => callPublic(w, vmOf(w)?.memory, memoryMethods)],
  [3, 'an EventFd', (w) => {
    const choice = w.random.int(4);
    if (choice === 0) {
      const eventFd = EventFd.create(w.random.chance(0.7) ? { initial: smallOrAny(w.random, 5, []) as number, semaphore: w.random.chance(0.5) } : any(w) as {});
      w.eventFds.add(eventFd);
      return eventFd;
    }
    const eventFd = w.eventFds.pick(w.random);
    return call(eventFd ?? any(w), w.random.pick(['write', 'read', 'close']), [w.random.pick([1n, 0n, (1n << 64n) - 1n, -1n, 1, any(w)])]);
  }],
  [3, 'a GuestMachine', (w) => {
    const machine = w.machines.pick(w.random);
    if (!machine || w.random.chance(0.3)) {
      const kvm = w.kvms.pick(w.random) ?? Kvm.open();
      if (!w.kvms.items.includes(kvm)) w.kvms.add(kvm);
      const created = GuestMachine.create(kvm, {
        program: w.random.pick(['basics', 'basics', 'pio_loop', 'no-such-program', '/dev/null', guestProgramPath('basics')]),
        memorySize: w.random.pick([16 << 20, 4 << 20, 1 << 20, PAGE, 64 << 20, any(w)]) as number,
        vcpus: w.random.pick([1, 1, 2, 0, -1, any(w)]) as number, irqchip: w.random.chance(0.7), xapic: w.random.chance(0.5),
      });
      created.onPrint = () => undefined;
      if (created.image.symbols.has('scenario')) created.memory.write64(created.symbol('scenario'), BigInt(w.random.int(11)));
      w.machines.add(created);
      return created;
    }
    switch (w.random.int(4)) {
      case 0: return machine.runUntilUcall(runOptions(w) as {});
      case 1: {
        const result = machine.runUntilUcallAsync(runOptions(w) as {});
        w.track(result);
        return result;
      }
      case 2: return machine.map(gpa(w) as number, gpa(w) as number, w.random.pick([PAGE, 1 << 21, 1, 0, -PAGE]), { uncached: w.random.chance(0.5) });
      default: return machine.symbol(w.random.pick(['scenario', 'spins', 'nope', '']));
    }
  }],
  [3, 'Xen attributes (refused here, run where KVM has Xen)', (w) => {
    const vm = vmOf(w);
    const vcpu = vcpuOf(w);
    if (w.random.chance(0.5) && vm) {
      const xen = new XenVm(vm);
      if (w.random.chance(0.3)) return xen.configure({ msr: w.random.pick([0x40000000, 0, any(w)]) as number, flags: w.random.pick([['INTERCEPT_HCALL'], ['bogus'], []]) as [] });
      const name = w.random.pick(Object.keys(hvmAttributes)) as keyof typeof hvmAttributes;
      return w.random.chance(0.5) ? xen.get(name) : xen.set(name, any(w) as never);
    }
    if (!vcpu) return undefined;
    const name = w.random.pick(Object.keys(vcpuAttributes)) as keyof typeof vcpuAttributes;
    const xen = new XenVcpu(vcpu);
    return w.random.chance(0.5) && name !== 'RUNSTATE_ADJUST' ? xen.get(name) : xen.set(name, any(w) as never);
  }],
  [3, 'codecs and decoders', (w) => {
    switch (w.random.int(5)) {
      case 0: return kvmRegs.encode(randomRegs(w));
      case 1: return kvmSregs.encode(randomSregs(w) as {});
      case 2: return decodeExit(w.random.chance(0.5) ? (vcpuOf(w)?.run ?? w.random.bytes(4096)) : someBytes(w.random, 4096) as Uint8Array);
      case 3: return parseElf(w.random.chance(0.5) ? w.random.bytes(w.random.int(512)) : someBytes(w.random, 64) as Uint8Array);
      default: return decodeXenHvmCaps(any(w) as number);
    }
  }],
  [1, 'an ioctl repeater', (w) => {
    const vm = vmOf(w);
    if (!vm) return undefined;
    const repeater = vm.repeatIoctls([{ request: w.random.pick(requestNames), arg: someBytes(w.random, 72) as Uint8Array, stopPoint: w.random.chance(0.8) }]);
    w.loops.add(repeater);
    return repeater;
  }],
];

export const actions: ReadonlyArray<readonly [weight: number, name: string, action: Action]> = [...rawActions, ...publicActions];
