// KVM capabilities by name (KVM_CHECK_EXTENSION), and KVM_CAP_XEN_HVM's bitmask decoded.
import type { FdHandle } from './native';
import { ioctl } from './requests';

export const capabilities = {
  KVM_CAP_IRQCHIP: 0,
  KVM_CAP_HLT: 1,
  KVM_CAP_USER_MEMORY: 3,
  KVM_CAP_SET_TSS_ADDR: 4,
  KVM_CAP_EXT_CPUID: 7,
  KVM_CAP_NR_VCPUS: 9,
  KVM_CAP_NR_MEMSLOTS: 10,
  KVM_CAP_IRQ_ROUTING: 25,
  KVM_CAP_IRQ_INJECT_STATUS: 26,
  KVM_CAP_SET_GUEST_DEBUG: 23,
  KVM_CAP_IRQFD: 32,
  KVM_CAP_ADJUST_CLOCK: 39,
  KVM_CAP_XEN_HVM: 38,
  KVM_CAP_VCPU_EVENTS: 41,
  KVM_CAP_MAX_VCPUS: 66,
  KVM_CAP_SIGNAL_MSI: 77,
  KVM_CAP_GET_TSC_KHZ: 61,
  KVM_CAP_TSC_CONTROL: 60,
  KVM_CAP_IMMEDIATE_EXIT: 136,
  KVM_CAP_MAX_VCPU_ID: 128,
  KVM_CAP_X2APIC_API: 129,
} as const;

export type CapabilityName = keyof typeof capabilities;

/** KVM_CHECK_EXTENSION on /dev/kvm or a VM: 0 when absent, otherwise 1 or a capability-specific value. */
export function checkExtension(handle: FdHandle, capability: CapabilityName | number): number {
  const number = typeof capability === 'number' ? capability : capabilities[capability];
  if (number === undefined) throw new TypeError(`unknown capability ${String(capability)}`);
  return ioctl(handle, 'KVM_CHECK_EXTENSION', number);
}

/** Bits of KVM_CHECK_EXTENSION(KVM_CAP_XEN_HVM), and of KVM_XEN_HVM_CONFIG.flags. */
export const xenHvmFlags = {
  HYPERCALL_MSR: 1 << 0,
  INTERCEPT_HCALL: 1 << 1,
  SHARED_INFO: 1 << 2,
  RUNSTATE: 1 << 3,
  EVTCHN_2LEVEL: 1 << 4,
  EVTCHN_SEND: 1 << 5,
  RUNSTATE_UPDATE_FLAG: 1 << 6,
  PVCLOCK_TSC_UNSTABLE: 1 << 7,
  SHARED_INFO_HVA: 1 << 8,
} as const;

export type XenHvmFlag = keyof typeof xenHvmFlags;

export interface XenHvmCaps {
  readonly raw: number;
  readonly flags: readonly XenHvmFlag[];
  has(flag: XenHvmFlag): boolean;
}

export function decodeXenHvmCaps(raw: number): XenHvmCaps {
  const flags = (Object.keys(xenHvmFlags) as XenHvmFlag[]).filter((name) => (raw & xenHvmFlags[name]) !== 0);
  return { raw, flags, has: (flag) => (raw & xenHvmFlags[flag]) !== 0 };
}
