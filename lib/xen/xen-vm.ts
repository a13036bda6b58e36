// The Xen side of a VM (VM fd): KVM_XEN_HVM_CONFIG, the VM attributes, outbound event channels and
// KVM_XEN_HVM_EVTCHN_SEND.
import type { EventFd } from '../kvm/eventfd';
import { XEN_EVTCHN_PRIORITY_2LEVEL, type Vm } from '../kvm/vm';
import { xenHvmFlags } from '../kvm/caps';
import { evtchnStat } from './abi';
import {
  decodeHvmAttr, encodeHvmAttr, hvmAttrQuery, type HvmAttributeName, type HvmAttributeValue,
} from './attributes';
import { kvmIrqRoutingXenEvtchn } from '../kvm/structs';
import { evtchnFlags, hvmAttrType, kvmXenHvmAttr, kvmXenHvmConfig } from './uapi';

/** The flags KVM_XEN_HVM_CONFIG accepts as input (others are capability bits only). */
const configFlags = ['INTERCEPT_HCALL', 'EVTCHN_SEND', 'PVCLOCK_TSC_UNSTABLE'] as const;
export type XenConfigFlag = (typeof configFlags)[number];

export interface XenConfig {
  /** The MSR through which the guest asks for a hypercall page; non-zero enables Xen emulation. */
  msr: number;
  flags?: readonly XenConfigFlag[];
}

/** An event channel the guest sends on (EVTCHNOP_send), and where KVM delivers it. */
export interface OutboundPort {
  sendPort: number;
  /** 'interdomain' (KVM's loopback or eventfd) or 'ipi' (deliver.port must equal sendPort). */
  type: 'interdomain' | 'ipi';
  deliver: { port: number; vcpu: number; priority?: number } | { eventfd: EventFd };
}

/** A target of KVM_XEN_HVM_EVTCHN_SEND: a port on a vCPU. */
export interface EvtchnTarget {
  port: number;
  vcpu: number;
  priority?: number;
}

export class XenVm {
  // What KVM cannot report back, kept for save/restore (lib/xen/state.ts).
  private configured: XenConfig | undefined;
  private readonly ports = new Map<number, OutboundPort>();

  constructor(readonly vm: Vm) {}

  configure(config: XenConfig): void {
    if (typeof config !== 'object' || config === null) throw new TypeError('config must be an object');
    if (!Array.isArray(config.flags ?? [])) throw new TypeError('config.flags must be an array of flag names');
    const flags = (config.flags ?? []).reduce((bits, name) => {
      if (!configFlags.includes(name)) throw new TypeError(`${String(name)} is not a KVM_XEN_HVM_CONFIG flag (one of ${configFlags.join(', ')})`);
      return bits | xenHvmFlags[name];
    }, 0);
    if (typeof config.msr !== 'number') throw new TypeError(`config.msr must be a number, got ${typeof config.msr}`);
    this.vm.ioctl('KVM_XEN_HVM_CONFIG', kvmXenHvmConfig.encode({ flags, msr: config.msr }));
    this.configured = { msr: config.msr, flags: [...(config.flags ?? [])] };
  }

  /** The last KVM_XEN_HVM_CONFIG, if any. */
  get config(): XenConfig | undefined {
    return this.configured;
  }

  /** The outbound ports registered and not removed. */
  get outboundPorts(): OutboundPort[] {
    return [...this.ports.values()];
  }

  set<N extends HvmAttributeName>(name: N, value: HvmAttributeValue<N>): void {
    this.vm.ioctl('KVM_XEN_HVM_SET_ATTR', encodeHvmAttr(name, value));
  }

  get<N extends HvmAttributeName>(name: N): HvmAttributeValue<N> {
    const bytes = hvmAttrQuery(name);
    this.vm.ioctl('KVM_XEN_HVM_GET_ATTR', bytes);
    return decodeHvmAttr(name, bytes);
  }

  /** Registers an outbound port (KVM_XEN_ATTR_TYPE_EVTCHN). */
  assignEvtchn(port: OutboundPort): void {
    this.vm.ioctl('KVM_XEN_HVM_SET_ATTR', encodeEvtchn(port, evtchnFlags.ASSIGN));
    this.ports.set(port.sendPort, port);
  }

  /** Changes an outbound port's target vCPU or priority (the type and ports must stay the same). */
  updateEvtchn(port: OutboundPort): void {
    this.vm.ioctl('KVM_XEN_HVM_SET_ATTR', encodeEvtchn(port, evtchnFlags.UPDATE));
    this.ports.set(port.sendPort, port);
  }

  deassignEvtchn(sendPort: number): void {
    this.vm.ioctl('KVM_XEN_HVM_SET_ATTR', kvmXenHvmAttr.encode({ type: hvmAttrType.EVTCHN, sendPort, evtchnFlags: evtchnFlags.DEASSIGN }));
    this.ports.delete(sendPort);
  }

  /** Removes every outbound port. */
  resetEvtchns(): void {
    this.vm.ioctl('KVM_XEN_HVM_SET_ATTR', kvmXenHvmAttr.encode({ type: hvmAttrType.EVTCHN, evtchnFlags: evtchnFlags.RESET }));
    this.ports.clear();
  }

  /** Raises an event channel on a vCPU (KVM_XEN_HVM_EVTCHN_SEND). */
  sendEvtchn(target: EvtchnTarget): void {
    this.vm.ioctl('KVM_XEN_HVM_EVTCHN_SEND', encodeTarget(target));
  }

  /** Like sendEvtchn, but returns -errno instead of throwing (for loops that race other threads). */
  trySendEvtchn(target: EvtchnTarget): number {
    return this.vm.tryIoctl('KVM_XEN_HVM_EVTCHN_SEND', encodeTarget(target));
  }
}

export function encodeTarget(target: EvtchnTarget): Uint8Array {
  return kvmIrqRoutingXenEvtchn.encode({ port: target.port, vcpu: target.vcpu, priority: target.priority ?? XEN_EVTCHN_PRIORITY_2LEVEL });
}

function encodeEvtchn(port: OutboundPort, flags: number): Uint8Array {
  if (typeof port !== 'object' || port === null) throw new TypeError('port must be an object');
  if (!Object.hasOwn(evtchnStat, port.type) || (port.type !== 'interdomain' && port.type !== 'ipi')) {
    throw new TypeError(`port.type must be 'interdomain' or 'ipi', got ${String(port.type)}`);
  }
  if (typeof port.deliver !== 'object' || port.deliver === null) throw new TypeError('port.deliver must be { port, vcpu } or { eventfd }');
  const common = { type: hvmAttrType.EVTCHN, sendPort: port.sendPort, evtchnType: evtchnStat[port.type], evtchnFlags: flags };
  if ('eventfd' in port.deliver) {
    return kvmXenHvmAttr.encode({ ...common, deliverEventfdPort: 0, deliverEventfdFd: port.deliver.eventfd.fd });
  }
  const { port: deliverPort, vcpu, priority = XEN_EVTCHN_PRIORITY_2LEVEL } = port.deliver;
  return kvmXenHvmAttr.encode({ ...common, deliverPort, deliverVcpu: vcpu, deliverPriority: priority });
}
