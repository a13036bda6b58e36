// A VM: memory slots, the in-kernel irqchip, GSI routing and irqfd, the kvmclock, vCPUs.
import { checkExtension, type CapabilityName } from './caps';
import { ClosedError, naming } from './errors';
import { EventFd } from './eventfd';
import { viewOf, type Values } from './layout';
import { IoctlRepeater, type RepeatedIoctl } from './ioctl-loop';
import { GuestMemory, MemoryRegion } from './memory';
import type { FdHandle } from './native';
import { ioctl, ioctlCreate, tryIoctl, type RequestName } from './requests';
import { flexHeader, kvmClockData, kvmIrqfd, kvmIrqRoutingEntry, kvmMsi, kvmUserspaceMemoryRegion } from './structs';
import { kvmDirtyLog, kvmIdentityMapAddr, kvmIrqchip, kvmIrqLevel, kvmPitConfig, kvmPitState2 } from './structs';
import { Vcpu } from './vcpu';

/** KVM_IRQ_ROUTING_* entry types. */
const routeTypes = { irqchip: 1, msi: 2, 'xen-evtchn': 5 } as const;
/** The fields each route type must have (the others default). */
const routeFields = { irqchip: ['gsi', 'irqchip', 'pin'], msi: ['gsi', 'address', 'data'], 'xen-evtchn': ['gsi', 'port', 'vcpu'] } as const;
/** KVM_IRQ_ROUTING_XEN_EVTCHN_PRIO_2LEVEL: the only priority KVM accepts. */
export const XEN_EVTCHN_PRIORITY_2LEVEL = 0xffffffff;
const KVM_IRQFD_FLAG_DEASSIGN = 1;
/** The dirty log's granule: one bit per 4 KiB page. */
const DIRTY_LOG_PAGE = 4096;

export type GsiRoute =
  | { gsi: number; type: 'msi'; address: bigint; data: number; devid?: number; flags?: number }
  | { gsi: number; type: 'xen-evtchn'; port: number; vcpu: number; priority?: number }
  | { gsi: number; type: 'irqchip'; irqchip: number; pin: number };

export type ClockData = Values<typeof kvmClockData.fields>;

/** kvm_irqchip.chip_id */
export const irqchipIds = { 'pic-master': 0, 'pic-slave': 1, ioapic: 2 } as const;
export type IrqchipId = keyof typeof irqchipIds;
/** kvm_pit_config.flags: port 0x61 (the PC speaker) answered in the kernel, never exiting. */
const KVM_PIT_SPEAKER_DUMMY = 1;

/** kvm_clock_data.flags */
export const clockFlags = { TSC_STABLE: 2, REALTIME: 4, HOST_TSC: 8 } as const;

export interface MemorySlotOptions {
  slot: number;
  guestAddress: number;
  size: number;
  /** KVM_MEM_* flags (e.g. 2 = KVM_MEM_READONLY). */
  flags?: number;
}

export interface IrqfdAssignment {
  eventFd: EventFd;
  gsi: number;
}

function checkIrqfd(eventFd: EventFd, gsi: number): void {
  if (!(eventFd instanceof EventFd)) throw new TypeError('eventFd must be an EventFd');
  if (typeof gsi !== 'number') throw new TypeError(`gsi must be a number, got ${typeof gsi}`);
  if (!Number.isInteger(gsi) || gsi < 0 || gsi > 0xffffffff) throw new RangeError(`gsi must be an integer in [0, 2^32), got ${gsi}`);
}

/** One kvm_irq_routing_entry; TypeError/RangeError for a route that is not one. */
function writeRoute(view: DataView, at: number, route: GsiRoute): void {
  if (typeof route !== 'object' || route === null) throw new TypeError(`a route must be an object, got ${route === null ? 'null' : typeof route}`);
  const type = Object.hasOwn(routeTypes, route.type) ? routeTypes[route.type] : undefined;
  if (type === undefined) throw new TypeError(`unknown route type ${String((route as { type: unknown }).type)} (one of ${Object.keys(routeTypes).join(', ')})`);
  for (const key of routeFields[route.type]) {
    if ((route as Record<string, unknown>)[key] === undefined) throw new TypeError(`the ${route.type} route needs ${key}`);
  }
  kvmIrqRoutingEntry.write(view, at, { gsi: route.gsi, type });
  switch (route.type) {
    case 'msi':
      if (typeof route.address !== 'bigint') throw new TypeError(`an MSI route's address must be a bigint, got ${typeof route.address}`);
      kvmIrqRoutingEntry.write(view, at, {
        flags: route.flags ?? 0, msiAddressLo: Number(route.address & 0xffffffffn), msiAddressHi: Number(route.address >> 32n),
        msiData: route.data, msiDevid: route.devid ?? 0,
      });
      break;
    case 'xen-evtchn':
      kvmIrqRoutingEntry.write(view, at, { xenEvtchn: { port: route.port, vcpu: route.vcpu, priority: route.priority ?? XEN_EVTCHN_PRIORITY_2LEVEL } });
      break;
    case 'irqchip':
      kvmIrqRoutingEntry.write(view, at, { irqchip: route.irqchip, pin: route.pin });
      break;
  }
}

export class Vm implements Disposable {
  readonly memory = new GuestMemory();
  private readonly vcpus = new Map<number, Vcpu>();
  // What this VMM configured that KVM cannot report back (for snapshots and migration).
  private routes: readonly GsiRoute[] = [];
  private readonly irqfds: IrqfdAssignment[] = [];
  private irqchip = false;

  constructor(readonly handle: FdHandle, private readonly vcpuMmapSize: number) {}

  get closed(): boolean {
    return this.handle.closed;
  }

  /** KVM_CHECK_EXTENSION on the VM fd: what this VM supports (may differ from /dev/kvm's answer). */
  checkExtension(capability: CapabilityName | number): number {
    return checkExtension(this.open(), capability);
  }

  /** Maps fresh host memory and makes it guest memory at `guestAddress` (KVM_SET_USER_MEMORY_REGION). */
  addMemory(options: MemorySlotOptions): MemoryRegion {
    const { slot, guestAddress, size, flags = 0 } = options;
    if (this.memory.slot(slot)) throw new Error(`memory slot ${slot} is in use`);
    const region = MemoryRegion.allocate(slot, guestAddress, size);
    try {
      this.setMemoryRegion(slot, flags, guestAddress, size, region.hostAddress);
    } catch (error) {
      region.release();
      throw error;
    }
    this.memory.add(region);
    return region;
  }

  /** Changes a slot's KVM_MEM_* flags in place (KVM_MEM_LOG_DIRTY_PAGES on or off, say). */
  setMemoryFlags(slot: number, flags: number): void {
    const region = this.memory.slot(slot);
    if (!region) throw new RangeError(`no memory slot ${slot}`);
    this.setMemoryRegion(slot, flags, region.guestAddress, region.size, region.hostAddress);
  }

  /**
   * The pages of a slot written since the last call (KVM_GET_DIRTY_LOG; the slot must have
   * KVM_MEM_LOG_DIRTY_PAGES): bit i of byte i/8 is the slot's page i. KVM clears the log and
   * write-protects those pages again, so the next call reports only newer writes.
   */
  getDirtyLog(slot: number): Uint8Array {
    const region = this.memory.slot(slot);
    if (!region) throw new RangeError(`no memory slot ${slot}`);
    const pages = Math.ceil(region.size / DIRTY_LOG_PAGE);
    const bytes = new Uint8Array(kvmDirtyLog.size + Math.ceil(pages / 64) * 8);
    kvmDirtyLog.write(viewOf(bytes), 0, { slot });
    ioctl(this.open(), 'KVM_GET_DIRTY_LOG', bytes);
    return bytes.subarray(kvmDirtyLog.size);
  }

  /** Deletes a slot and releases its host memory. */
  removeMemory(slot: number): void {
    const region = this.memory.slot(slot);
    if (!region) throw new RangeError(`no memory slot ${slot}`);
    this.setMemoryRegion(slot, 0, region.guestAddress, 0, 0n);
    this.memory.remove(slot);
    region.release();
  }

  createIrqchip(): void {
    ioctl(this.open(), 'KVM_CREATE_IRQCHIP');
    this.irqchip = true;
  }

  get hasIrqchip(): boolean {
    return this.irqchip;
  }

  /** The routing table last set with setGsiRouting (KVM's default table until then: empty here). */
  get gsiRoutes(): readonly GsiRoute[] {
    return this.routes;
  }

  /** The irqfds assigned and not deassigned, nor ended by closing their EventFd (see deassignIrqfd). */
  get assignedIrqfds(): readonly IrqfdAssignment[] {
    this.forgetClosedIrqfds();
    return this.irqfds;
  }

  createVcpu(id: number): Vcpu {
    if (this.vcpus.has(id)) throw new Error(`vCPU ${id} exists`);
    const handle = ioctlCreate(this.open(), 'KVM_CREATE_VCPU', id);
    const vcpu = new Vcpu(id, handle, this.vcpuMmapSize, {
      inKernelLapic: this.irqchip,
      onClose: (closed) => {
        if (this.vcpus.get(closed.id) === closed) this.vcpus.delete(closed.id);
      },
    });
    this.vcpus.set(id, vcpu);
    return vcpu;
  }

  /** Replaces the VM's whole GSI routing table (KVM_SET_GSI_ROUTING). */
  setGsiRouting(routes: readonly GsiRoute[]): void {
    if (!Array.isArray(routes)) throw new TypeError(`routes must be an array of GSI routes, got ${typeof routes}`);
    const bytes = new Uint8Array(flexHeader.size + routes.length * kvmIrqRoutingEntry.size);
    const view = viewOf(bytes);
    flexHeader.write(view, 0, { count: routes.length, flags: 0 });
    routes.forEach((route: GsiRoute, i) => naming(`routes[${i}]`, () => writeRoute(view, flexHeader.size + i * kvmIrqRoutingEntry.size, route)));
    ioctl(this.open(), 'KVM_SET_GSI_ROUTING', bytes);
    this.routes = routes.map((route) => ({ ...route }));
  }

  /** Connects an eventfd to a GSI: a write to it injects the GSI's route (KVM_IRQFD). */
  assignIrqfd(eventFd: EventFd, gsi: number): void {
    checkIrqfd(eventFd, gsi);
    this.forgetClosedIrqfds();
    ioctl(this.open(), 'KVM_IRQFD', kvmIrqfd.encode({ fd: eventFd.fd, gsi }));
    this.irqfds.push({ eventFd, gsi });
  }

  /**
   * Disconnects an eventfd from a GSI. Closing the EventFd does the same: when its file is released the
   * kernel detaches every irqfd on it (EPOLLHUP in virt/kvm/eventfd.c), so for a closed EventFd there
   * is nothing left to tell KVM and this only forgets it; assignedIrqfds never lists a closed one.
   */
  deassignIrqfd(eventFd: EventFd, gsi: number): void {
    checkIrqfd(eventFd, gsi);
    if (!eventFd.closed) ioctl(this.open(), 'KVM_IRQFD', kvmIrqfd.encode({ fd: eventFd.fd, gsi, flags: KVM_IRQFD_FLAG_DEASSIGN }));
    const index = this.irqfds.findIndex((entry) => entry.eventFd === eventFd && entry.gsi === gsi);
    if (index >= 0) this.irqfds.splice(index, 1);
  }

  /** Injects one MSI directly (KVM_SIGNAL_MSI); returns >0 if delivered, 0 if blocked by the guest. */
  signalMsi(address: bigint, data: number): number {
    return ioctl(this.open(), 'KVM_SIGNAL_MSI', kvmMsi.encode({
      addressLo: Number(address & 0xffffffffn), addressHi: Number(address >> 32n), data,
    }));
  }

  getClock(): ClockData {
    const bytes = new Uint8Array(kvmClockData.size);
    ioctl(this.open(), 'KVM_GET_CLOCK', bytes);
    return kvmClockData.decode(bytes);
  }

  setClock(clock: bigint, options: { flags?: number; realtime?: bigint } = {}): void {
    ioctl(this.open(), 'KVM_SET_CLOCK', kvmClockData.encode({ clock, flags: options.flags ?? 0, realtime: options.realtime ?? 0n }));
  }

  // The platform a booted kernel expects (lib/vmm).

  /** Guest-physical address of the 3 pages Intel's VMX uses for real mode (KVM_SET_TSS_ADDR); outside RAM. */
  setTssAddress(address: number): void {
    ioctl(this.open(), 'KVM_SET_TSS_ADDR', address);
  }

  /** Guest-physical address of the page VMX without unrestricted guest uses for its identity map; outside RAM. */
  setIdentityMapAddress(address: bigint): void {
    ioctl(this.open(), 'KVM_SET_IDENTITY_MAP_ADDR', kvmIdentityMapAddr.encode({ address }));
  }

  /** Sets the level of an irqchip input (KVM_IRQ_LINE): GSI `irq` of the PICs and the IOAPIC. */
  setIrqLine(irq: number, level: boolean): void {
    ioctl(this.open(), 'KVM_IRQ_LINE', kvmIrqLevel.encode({ irq, level: level ? 1 : 0 }));
  }

  /** The in-kernel i8254 PIT on GSI 0 (KVM_CREATE_PIT2; needs the irqchip first). */
  createPit(): void {
    ioctl(this.open(), 'KVM_CREATE_PIT2', kvmPitConfig.encode({ flags: KVM_PIT_SPEAKER_DUMMY }));
  }

  /** One in-kernel interrupt controller's state: the whole kvm_irqchip, for setIrqchip. */
  getIrqchip(chip: IrqchipId): Uint8Array {
    const id = irqchipIds[chip];
    if (id === undefined) throw new TypeError(`unknown irqchip ${String(chip)}`);
    const bytes = kvmIrqchip.encode({ chipId: id });
    ioctl(this.open(), 'KVM_GET_IRQCHIP', bytes);
    return bytes;
  }

  setIrqchip(state: Uint8Array): void {
    ioctl(this.open(), 'KVM_SET_IRQCHIP', state);
  }

  /** The in-kernel PIT's state: the whole kvm_pit_state2, for setPit. */
  getPit(): Uint8Array {
    const bytes = new Uint8Array(kvmPitState2.size);
    ioctl(this.open(), 'KVM_GET_PIT2', bytes);
    return bytes;
  }

  setPit(state: Uint8Array): void {
    ioctl(this.open(), 'KVM_SET_PIT2', state);
  }

  /** Any VM ioctl the addon knows, for what this class does not wrap; throws KvmError on failure. */
  ioctl(name: RequestName, arg?: number | Uint8Array): number {
    return ioctl(this.open(), name, arg);
  }

  /** Like ioctl(), but returns -errno instead of throwing. */
  tryIoctl(name: RequestName, arg?: number | Uint8Array): number {
    return tryIoctl(this.open(), name, arg);
  }

  /** Starts a thread that repeats VM ioctls until stopped (see IoctlRepeater). */
  repeatIoctls(entries: readonly RepeatedIoctl[]): IoctlRepeater {
    return new IoctlRepeater(this.open(), entries);
  }

  /** Closes the vCPUs, the VM fd, and releases guest memory once the kernel no longer uses it. */
  close(): void {
    for (const vcpu of this.vcpus.values()) vcpu.close();
    this.vcpus.clear();
    this.handle.close();
    for (const region of this.memory.all()) region.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** The open vCPUs, by id. */
  vcpu(id: number): Vcpu | undefined {
    return this.vcpus.get(id);
  }

  private forgetClosedIrqfds(): void {
    for (let i = this.irqfds.length - 1; i >= 0; i--) {
      if (this.irqfds[i]!.eventFd.closed) this.irqfds.splice(i, 1);
    }
  }

  private open(): FdHandle {
    if (this.handle.closed) throw new ClosedError('Vm');
    return this.handle;
  }

  private setMemoryRegion(slot: number, flags: number, guestAddress: number, size: number, hostAddress: bigint): void {
    ioctl(this.open(), 'KVM_SET_USER_MEMORY_REGION', kvmUserspaceMemoryRegion.encode({
      slot, flags, guestPhysAddr: BigInt(guestAddress), memorySize: BigInt(size), userspaceAddr: hostAddress,
    }));
  }
}
