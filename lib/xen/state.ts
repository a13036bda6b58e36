// Save and restore of a VM's Xen state, the way a VMM carries it across a migration: what KVM reports
// through the GET attributes (shared_info location, vcpu_info, runstate, timer, vectors), plus what only
// the VMM knows (the HVM config, outbound ports, GSI routes and irqfds). Guest memory and vCPU
// registers travel separately (lib/kvm/snapshot.ts).
//
// restoreXenState sets the delivery paths of event channels (routes, irqfds, outbound ports, the timer)
// last, after shared_info and vcpu_info: that is when a kernel can see which ports are already pending.
import { KvmError, type EventFd, type GsiRoute, type IrqfdAssignment } from '../kvm';
import type { XenHvmCaps } from '../kvm/caps';
import type { RunstateData, XenTimer } from './attributes';
import { XEN_INVALID_GFN, XEN_INVALID_GPA } from './uapi';
import type { XenVcpu } from './xen-vcpu';
import type { OutboundPort, XenConfig, XenVm } from './xen-vm';

const PAGE_SIZE = 4096n;

export interface XenVcpuState {
  id: number;
  /** vcpu_info GPA (XEN_INVALID_GPA when not set). */
  vcpuInfo: bigint;
  timeInfo: bigint;
  runstateAddr: bigint | undefined;
  runstate: RunstateData | undefined;
  timer: XenTimer | undefined;
  upcallVector: number | undefined;
  xenVcpuId: number | undefined;
}

export interface XenVmState {
  config: XenConfig;
  longMode: boolean;
  /** shared_info by GFN (also when the source set it by HVA: the HVA is translated). */
  sharedInfoGfn: bigint;
  upcallVector: number;
  runstateUpdateFlag: boolean | undefined;
  outboundPorts: OutboundPort[];
  routes: GsiRoute[];
  irqfds: IrqfdAssignment[];
  vcpus: XenVcpuState[];
}

function sharedInfoGfn(xen: XenVm, caps: XenHvmCaps): bigint {
  const gfn = xen.get('SHARED_INFO');
  if (gfn !== XEN_INVALID_GFN || !caps.has('SHARED_INFO_HVA')) return gfn;
  const hva = xen.get('SHARED_INFO_HVA');
  if (hva === 0n) return XEN_INVALID_GFN;
  const region = xen.vm.memory.all().find((r) => hva >= r.hostAddress && hva < r.hostAddress + BigInt(r.size));
  if (!region) throw new Error(`shared_info HVA 0x${hva.toString(16)} is not guest memory`);
  return (BigInt(region.guestAddress) + (hva - region.hostAddress)) / PAGE_SIZE;
}

/** KVM answers ENOENT for an attribute that was never set (e.g. RUNSTATE_ADDR). */
function unlessUnset<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    if (error instanceof KvmError && error.code === 'ENOENT') return undefined;
    throw error;
  }
}

function saveVcpu(vcpu: XenVcpu, caps: XenHvmCaps): XenVcpuState {
  const evtchnSend = caps.has('EVTCHN_SEND');
  const runstate = caps.has('RUNSTATE');
  return {
    id: vcpu.vcpu.id,
    vcpuInfo: vcpu.get('VCPU_INFO'),
    timeInfo: vcpu.get('VCPU_TIME_INFO'),
    runstateAddr: runstate ? unlessUnset(() => vcpu.get('RUNSTATE_ADDR')) : undefined,
    runstate: runstate ? vcpu.get('RUNSTATE_DATA') : undefined,
    timer: evtchnSend ? vcpu.get('TIMER') : undefined,
    upcallVector: evtchnSend ? vcpu.get('UPCALL_VECTOR') : undefined,
    xenVcpuId: evtchnSend ? vcpu.get('VCPU_ID') : undefined,
  };
}

/** Reads the Xen state of a VM that is not running. */
export function saveXenState(xen: XenVm, vcpus: readonly XenVcpu[], caps: XenHvmCaps): XenVmState {
  if (!xen.config) throw new Error('saveXenState needs a VM configured with XenVm.configure()');
  return {
    config: xen.config,
    longMode: xen.get('LONG_MODE'),
    sharedInfoGfn: sharedInfoGfn(xen, caps),
    upcallVector: xen.get('UPCALL_VECTOR'),
    runstateUpdateFlag: caps.has('RUNSTATE_UPDATE_FLAG') ? xen.get('RUNSTATE_UPDATE_FLAG') : undefined,
    outboundPorts: xen.outboundPorts,
    routes: [...xen.vm.gsiRoutes],
    irqfds: [...xen.vm.assignedIrqfds],
    vcpus: vcpus.map((vcpu) => saveVcpu(vcpu, caps)),
  };
}

export interface RestoreOptions {
  /** The eventfd to use on the destination for one of the source's (default: the same object). */
  eventFd?: (source: EventFd) => EventFd;
}

/** Applies a saved Xen state to a fresh VM whose guest memory has been restored already. */
export function restoreXenState(xen: XenVm, vcpus: readonly XenVcpu[], state: XenVmState, options: RestoreOptions = {}): void {
  const mapEventFd = options.eventFd ?? ((source: EventFd) => source);
  xen.configure(state.config);
  xen.set('LONG_MODE', state.longMode);
  if (state.runstateUpdateFlag !== undefined) xen.set('RUNSTATE_UPDATE_FLAG', state.runstateUpdateFlag);
  xen.set('SHARED_INFO', state.sharedInfoGfn);
  xen.set('UPCALL_VECTOR', state.upcallVector);

  const byId = (id: number): XenVcpu => {
    const vcpu = vcpus.find((candidate) => candidate.vcpu.id === id);
    if (!vcpu) throw new Error(`the destination has no vCPU ${id}`);
    return vcpu;
  };
  for (const saved of state.vcpus) {
    const vcpu = byId(saved.id);
    if (saved.xenVcpuId !== undefined) vcpu.set('VCPU_ID', saved.xenVcpuId);
    if (saved.vcpuInfo !== XEN_INVALID_GPA) vcpu.set('VCPU_INFO', saved.vcpuInfo);
    if (saved.timeInfo !== XEN_INVALID_GPA) vcpu.set('VCPU_TIME_INFO', saved.timeInfo);
    if (saved.runstateAddr !== undefined && saved.runstateAddr !== XEN_INVALID_GPA) vcpu.set('RUNSTATE_ADDR', saved.runstateAddr);
    if (saved.runstate) vcpu.set('RUNSTATE_DATA', saved.runstate);
    if (saved.upcallVector) vcpu.set('UPCALL_VECTOR', saved.upcallVector);
  }

  // The delivery paths, last.
  if (state.routes.length > 0) xen.vm.setGsiRouting(state.routes);
  for (const { eventFd, gsi } of state.irqfds) xen.vm.assignIrqfd(mapEventFd(eventFd), gsi);
  for (const port of state.outboundPorts) {
    xen.assignEvtchn('eventfd' in port.deliver ? { ...port, deliver: { eventfd: mapEventFd(port.deliver.eventfd) } } : port);
  }
  for (const saved of state.vcpus) {
    if (saved.timer && saved.timer.port !== 0) byId(saved.id).set('TIMER', saved.timer);
  }
}
