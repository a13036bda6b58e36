// The Xen guest ABI as KVM implements it on x86: hypercall and operation numbers, event-channel port
// arithmetic, and the layouts of shared_info, vcpu_info, pvclock and the runstate area (long mode and
// the 32-bit "compat" mode).

export const hypercalls = {
  set_timer_op: 15,
  xen_version: 17,
  vcpu_op: 24,
  sched_op: 29,
  event_channel_op: 32,
} as const;

export const schedOps = { yield: 0, poll: 3 } as const;
export const evtchnOps = { send: 4 } as const;
export const vcpuOps = { set_singleshot_timer: 8, stop_singleshot_timer: 9 } as const;

/** EVTCHNSTAT_*: the type of an outbound port registered with KVM_XEN_ATTR_TYPE_EVTCHN. */
export const evtchnStat = { closed: 0, unbound: 1, interdomain: 2, pirq: 3, virq: 4, ipi: 5 } as const;

export const runstates = { running: 0, runnable: 1, blocked: 2, offline: 3 } as const;
export const runstateNames = ['running', 'runnable', 'blocked', 'offline'] as const;
export type RunstateName = (typeof runstateNames)[number];

/** XEN_RUNSTATE_UPDATE: bit 63 of state_entry_time while KVM is writing the area. */
export const XEN_RUNSTATE_UPDATE = 1n << 63n;

export type AbiMode = 'long' | 'compat';

/** Bits per event-channel word: 64 in long mode, 32 in compat mode. */
export function wordBits(mode: AbiMode): number {
  return mode === 'long' ? 64 : 32;
}

/** The largest number of event channels KVM handles with 2-level delivery. */
export function maxPorts(mode: AbiMode): number {
  return mode === 'long' ? 4096 : 1024;
}

/** Port p is bit (p mod W) of word (p div W); its index bit in evtchn_pending_sel is (p div W). */
export function portWord(port: number, mode: AbiMode = 'long'): { word: number; bit: number } {
  const bits = wordBits(mode);
  return { word: Math.floor(port / bits), bit: port % bits };
}

export const sharedInfoLayout = {
  long: { vcpuInfo: 0x000, pending: 0x800, mask: 0xa00, wallClock: 0xc00, wcSecHi: 0xc0c },
  compat: { vcpuInfo: 0x000, pending: 0x800, mask: 0x880, wallClock: 0x900, wcSecHi: 0x924 },
} as const;

export const VCPU_INFO_SIZE = 64;
export const vcpuInfoLayout = {
  long: { upcallPending: 0, upcallMask: 1, pendingSel: 8, pendingSelBytes: 8, time: 32 },
  compat: { upcallPending: 0, upcallMask: 1, pendingSel: 4, pendingSelBytes: 4, time: 32 },
} as const;

export const pvclockLayout = { version: 0, tscTimestamp: 8, systemTime: 16, tscToSystemMul: 24, tscShift: 28, flags: 29 } as const;
export const PVCLOCK_SIZE = 32;
export const wallClockLayout = { version: 0, sec: 4, nsec: 8 } as const;

/** vcpu_runstate_info: 48 bytes in long mode; packed, 44 bytes in compat mode. */
export const runstateLayout = {
  long: { state: 0, stateEntryTime: 8, time: 16, size: 48 },
  compat: { state: 0, stateEntryTime: 4, time: 12, size: 44 },
} as const;
