// Save and restore of a VM's Xen state, the way a VMM carries it across a migration: what KVM reports
// through the GET attributes (each attribute's save rule is in its row of lib/xen/attributes.ts), plus
// what only the VMM knows (the HVM config, outbound ports, GSI routes and irqfds). Guest memory and vCPU
// registers travel separately (lib/kvm/snapshot.ts).
//
// restoreXenState sets the delivery paths of event channels (routes, irqfds, outbound ports, the timer)
// last, after shared_info and vcpu_info: that is when a kernel can see which ports are already pending.
import { KvmError, type EventFd, type GsiRoute, type IrqfdAssignment, type Vm } from '../kvm';
import type { XenHvmCaps } from '../kvm/caps';
import { hvmAttributes, vcpuAttributes, type AttributeRow, type SavedAttributes } from './attributes';
import { XEN_INVALID_GFN } from './uapi';
import type { XenVcpu } from './xen-vcpu';
import type { OutboundPort, XenConfig, XenVm } from './xen-vm';

const PAGE_SIZE = 4096n;

export type XenVcpuState = { id: number } & SavedAttributes<typeof vcpuAttributes>;

export type XenVmState = SavedAttributes<typeof hvmAttributes> & {
  config: XenConfig;
  outboundPorts: OutboundPort[];
  routes: GsiRoute[];
  irqfds: IrqfdAssignment[];
  vcpus: XenVcpuState[];
};

type Table = Readonly<Record<string, AttributeRow>>;
type Saved = Record<string, unknown>;

/** KVM answers ENOENT for an attribute that was never set (e.g. RUNSTATE_ADDR). */
function unlessUnset<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    if (error instanceof KvmError && error.code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The GFN of a host address inside guest memory (a place set by HVA, saved by GFN). */
function gfnOfHostAddress(vm: Vm, hva: bigint): bigint {
  if (hva === 0n) return XEN_INVALID_GFN;
  const region = vm.memory.all().find((r) => hva >= r.hostAddress && hva < r.hostAddress + BigInt(r.size));
  if (!region) throw new Error(`shared_info HVA 0x${hva.toString(16)} is not guest memory`);
  return (BigInt(region.guestAddress) + (hva - region.hostAddress)) / PAGE_SIZE;
}

/** Reads every attribute of `table` that has a save rule, into its field. */
function saveAttributes(table: Table, caps: XenHvmCaps, read: (name: string) => unknown, vm: Vm): Saved {
  const saved: Saved = {};
  for (const [name, { save }] of Object.entries(table)) {
    if (!save) continue;
    if (save.needs && !caps.has(save.needs)) {
      saved[save.field] = undefined;
      continue;
    }
    let value = save.mayBeUnset ? unlessUnset(() => read(name)) : read(name);
    const byHost = save.orByHostAddress ? table[save.orByHostAddress]?.hostAddress : undefined;
    if (save.orByHostAddress && byHost && value === XEN_INVALID_GFN && caps.has(byHost.needs)) {
      value = gfnOfHostAddress(vm, read(save.orByHostAddress) as bigint);
    }
    saved[save.field] = value;
  }
  return saved;
}

/** Sets again the saved attributes of one restore phase (the delivery paths come last). */
function restoreAttributes(table: Table, saved: Saved, delivery: boolean, write: (name: string, value: unknown) => void): void {
  for (const [name, { save }] of Object.entries(table)) {
    if (!save || (save.delivery ?? false) !== delivery) continue;
    const value = saved[save.field];
    if (value === undefined || save.unused?.(value as never)) continue;
    write(name, value);
  }
}

/** Reads the Xen state of a VM that is not running. */
export function saveXenState(xen: XenVm, vcpus: readonly XenVcpu[], caps: XenHvmCaps): XenVmState {
  if (!xen.config) throw new Error('saveXenState needs a VM configured with XenVm.configure()');
  const attributes = saveAttributes(hvmAttributes, caps, (name) => xen.get(name as 'LONG_MODE'), xen.vm);
  return {
    ...(attributes as SavedAttributes<typeof hvmAttributes>),
    config: xen.config,
    outboundPorts: xen.outboundPorts,
    routes: [...xen.vm.gsiRoutes],
    irqfds: [...xen.vm.assignedIrqfds],
    vcpus: vcpus.map((vcpu) => ({
      id: vcpu.vcpu.id,
      ...(saveAttributes(vcpuAttributes, caps, (name) => vcpu.get(name as 'VCPU_ID'), xen.vm) as SavedAttributes<typeof vcpuAttributes>),
    })),
  };
}

export interface RestoreOptions {
  /** The eventfd to use on the destination for one of the source's (default: the same object). */
  eventFd?: (source: EventFd) => EventFd;
}

/** Applies a saved Xen state to a fresh VM whose guest memory has been restored already. */
export function restoreXenState(xen: XenVm, vcpus: readonly XenVcpu[], state: XenVmState, options: RestoreOptions = {}): void {
  const mapEventFd = options.eventFd ?? ((source: EventFd) => source);
  const byId = (id: number): XenVcpu => {
    const vcpu = vcpus.find((candidate) => candidate.vcpu.id === id);
    if (!vcpu) throw new Error(`the destination has no vCPU ${id}`);
    return vcpu;
  };
  const restoreVcpus = (delivery: boolean): void => {
    for (const saved of state.vcpus) {
      const vcpu = byId(saved.id);
      restoreAttributes(vcpuAttributes, saved, delivery, (name, value) => vcpu.set(name as 'VCPU_ID', value as number));
    }
  };
  xen.configure(state.config);
  restoreAttributes(hvmAttributes, state, false, (name, value) => xen.set(name as 'LONG_MODE', value as boolean));
  restoreVcpus(false);

  // The delivery paths, last.
  if (state.routes.length > 0) xen.vm.setGsiRouting(state.routes);
  for (const { eventFd, gsi } of state.irqfds) xen.vm.assignIrqfd(mapEventFd(eventFd), gsi);
  for (const port of state.outboundPorts) {
    xen.assignEvtchn('eventfd' in port.deliver ? { ...port, deliver: { eventfd: mapEventFd(port.deliver.eventfd) } } : port);
  }
  restoreVcpus(true);
}
