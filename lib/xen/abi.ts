// The Xen guest ABI as KVM implements it on x86: hypercall and operation numbers, event-channel port
// arithmetic, and the layouts of shared_info, vcpu_info, pvclock and the runstate area (long mode and
// the 32-bit "compat" mode).

export const hypercalls = {
  memory_op: 12,
  set_timer_op: 15,
  xen_version: 17,
  grant_table_op: 20,
  vm_assist: 21,
  vcpu_op: 24,
  sched_op: 29,
  event_channel_op: 32,
  physdev_op: 33,
  hvm_op: 34,
} as const;

export const schedOps = { yield: 0, block: 1, shutdown: 2, poll: 3 } as const;
export const evtchnOps = {
  bind_interdomain: 0, bind_virq: 1, bind_pirq: 2, close: 3, send: 4, status: 5, alloc_unbound: 6, bind_ipi: 7,
  bind_vcpu: 8, unmask: 9, reset: 10, init_control: 11, expand_array: 12, set_priority: 13,
} as const;
export const vcpuOps = {
  initialise: 0, up: 1, down: 2, is_up: 3, get_runstate_info: 4, register_runstate_memory_area: 5,
  set_periodic_timer: 6, stop_periodic_timer: 7, set_singleshot_timer: 8, stop_singleshot_timer: 9,
  register_vcpu_info: 10, send_nmi: 11, get_physid: 12, register_vcpu_time_memory_area: 13,
} as const;
/** XENVER_* sub-operations of xen_version. */
export const xenVersionOps = { version: 0, extraversion: 1, compile_info: 2, capabilities: 3, changeset: 4, platform_parameters: 5, get_features: 6, pagesize: 7, guest_handle: 8, commandline: 9 } as const;
/** XENMEM_* sub-operations of memory_op, and XENMAPSPACE_* of add_to_physmap. */
export const memoryOps = { add_to_physmap: 7 } as const;
export const mapSpaces = { shared_info: 0, grant_table: 1 } as const;
/** HVMOP_* sub-operations of hvm_op, and the HVM_PARAM_* indices a Linux guest reads or writes. */
export const hvmOps = { set_param: 0, get_param: 1, pagetable_dying: 9, get_mem_type: 15, set_evtchn_upcall_vector: 23 } as const;
export const hvmParams = { callback_irq: 0, store_pfn: 1, store_evtchn: 2, console_pfn: 17, console_evtchn: 18 } as const;
/** HVM_NR_PARAMS: indices at or above are -EINVAL. */
export const HVM_NR_PARAMS = 39;
/** HVM_PARAM_CALLBACK_IRQ's type, in bits 63:56 of its value; type 2 carries a vector in bits 7:0. */
export const callbackTypes = { gsi: 0, pciIntx: 1, vector: 2 } as const;
/** VIRQ_* numbers a Linux guest binds. */
export const virqs = { timer: 0, debug: 1, console: 2 } as const;
/** XENFEAT_* bit numbers of submap 0 (XENVER_get_features). */
export const xenFeatures = {
  writable_page_tables: 0, writable_descriptor_tables: 1, auto_translated_physmap: 2, supervisor_mode_kernel: 3,
  hvm_callback_vector: 8, hvm_safe_pvclock: 9, hvm_pirqs: 10,
} as const;
/** VMASST_* of vm_assist. */
export const vmAssist = { enable: 0, disable: 1, runstate_update_flag: 5 } as const;
/** Xen's errno values (the same numbers as Linux's for these), returned negated in RAX. */
export const xenErrno = { EPERM: 1, ENOENT: 2, ESRCH: 3, EFAULT: 14, EEXIST: 17, EINVAL: 22, ENOSPC: 28, ENOSYS: 38 } as const;

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
