// The KVM uAPI structs this library encodes, each declared once with its C layout (x86-64).
// Sizes equal the _IOC_SIZE of their ioctls, which a unit test checks against the addon's table.
import { array, nested, struct, u16, u32, u64, u8 } from './layout';

export const kvmRegs = struct('kvm_regs', 144, {
  rax: u64(0), rbx: u64(8), rcx: u64(16), rdx: u64(24), rsi: u64(32), rdi: u64(40), rsp: u64(48), rbp: u64(56),
  r8: u64(64), r9: u64(72), r10: u64(80), r11: u64(88), r12: u64(96), r13: u64(104), r14: u64(112), r15: u64(120),
  rip: u64(128), rflags: u64(136),
});

export const kvmSegment = struct('kvm_segment', 24, {
  base: u64(0), limit: u32(8), selector: u16(12), type: u8(14), present: u8(15), dpl: u8(16), db: u8(17),
  s: u8(18), l: u8(19), g: u8(20), avl: u8(21), unusable: u8(22),
});

export const kvmDtable = struct('kvm_dtable', 16, { base: u64(0), limit: u16(8) });

export const kvmSregs = struct('kvm_sregs', 312, {
  cs: nested(0, kvmSegment), ds: nested(24, kvmSegment), es: nested(48, kvmSegment), fs: nested(72, kvmSegment),
  gs: nested(96, kvmSegment), ss: nested(120, kvmSegment), tr: nested(144, kvmSegment), ldt: nested(168, kvmSegment),
  gdt: nested(192, kvmDtable), idt: nested(208, kvmDtable),
  cr0: u64(224), cr2: u64(232), cr3: u64(240), cr4: u64(248), cr8: u64(256), efer: u64(264), apicBase: u64(272),
  interruptBitmap: array(280, 'u64', 4),
});

export const kvmUserspaceMemoryRegion = struct('kvm_userspace_memory_region', 32, {
  slot: u32(0), flags: u32(4), guestPhysAddr: u64(8), memorySize: u64(16), userspaceAddr: u64(24),
});

export const kvmCpuidEntry2 = struct('kvm_cpuid_entry2', 40, {
  function: u32(0), index: u32(4), flags: u32(8), eax: u32(12), ebx: u32(16), ecx: u32(20), edx: u32(24),
});
/** kvm_cpuid2 / kvm_msrs / kvm_irq_routing / kvm_msr_list headers: a u32 count at offset 0. */
export const flexHeader = struct('flex_header', 8, { count: u32(0), flags: u32(4) });

export const kvmMsrEntry = struct('kvm_msr_entry', 16, { index: u32(0), data: u64(8) });

/** A Xen event channel on a vCPU: a GSI route's target, and KVM_XEN_HVM_EVTCHN_SEND's argument. */
export const kvmIrqRoutingXenEvtchn = struct('kvm_irq_routing_xen_evtchn', 12, { port: u32(0), vcpu: u32(4), priority: u32(8) });

export const kvmIrqRoutingEntry = struct('kvm_irq_routing_entry', 48, {
  gsi: u32(0), type: u32(4), flags: u32(8),
  // u.msi
  msiAddressLo: u32(16), msiAddressHi: u32(20), msiData: u32(24), msiDevid: u32(28),
  // u.xen_evtchn (shares the union with msi)
  xenEvtchn: nested(16, kvmIrqRoutingXenEvtchn),
  // u.irqchip
  irqchip: u32(16), pin: u32(20),
});

export const kvmIrqfd = struct('kvm_irqfd', 32, { fd: u32(0), gsi: u32(4), flags: u32(8), resamplefd: u32(12) });

export const kvmMsi = struct('kvm_msi', 32, { addressLo: u32(0), addressHi: u32(4), data: u32(8), flags: u32(12), devid: u32(16) });

export const kvmClockData = struct('kvm_clock_data', 48, { clock: u64(0), flags: u32(8), realtime: u64(16), hostTsc: u64(24) });

export const kvmMpState = struct('kvm_mp_state', 4, { mpState: u32(0) });

export const kvmEnableCap = struct('kvm_enable_cap', 104, { cap: u32(0), flags: u32(4), args: array(8, 'u64', 4) });

export const kvmVcpuEvents = struct('kvm_vcpu_events', 64, {
  exceptionInjected: u8(0), exceptionNr: u8(1), exceptionHasErrorCode: u8(2), exceptionPending: u8(3),
  exceptionErrorCode: u32(4),
  interruptInjected: u8(8), interruptNr: u8(9), interruptSoft: u8(10), interruptShadow: u8(11),
  nmiInjected: u8(12), nmiPending: u8(13), nmiMasked: u8(14),
  sipiVector: u32(16), flags: u32(20),
});

export const KVM_LAPIC_STATE_SIZE = 1024;

// The platform a booted kernel expects: the in-kernel PIC/IOAPIC and PIT, the VMX-only addresses.
/** KVM_SET_IDENTITY_MAP_ADDR takes a pointer to one u64. */
export const kvmIdentityMapAddr = struct('kvm_identity_map_addr', 8, { address: u64(0) });
export const kvmIrqLevel = struct('kvm_irq_level', 8, { irq: u32(0), level: u32(4) });
export const kvmPitConfig = struct('kvm_pit_config', 64, { flags: u32(0) });
/** chip_id selects the PIC master (0), PIC slave (1) or IOAPIC (2); its state follows at offset 8. */
export const kvmIrqchip = struct('kvm_irqchip', 520, { chipId: u32(0) });
export const KVM_IRQCHIP_STATE_OFFSET = 8;
/** Three 24-byte kvm_pit_channel_state, then flags: kept as bytes, saved and restored whole. */
export const kvmPitState2 = struct('kvm_pit_state2', 112, { flags: u32(72) });
/** The legacy 4 KiB XSAVE area (KVM_GET_XSAVE2 would be needed for AMX state beyond it). */
export const KVM_XSAVE_SIZE = 4096;
export const kvmXcrs = struct('kvm_xcrs', 392, { nrXcrs: u32(0), flags: u32(4) });
export const kvmDebugregs = struct('kvm_debugregs', 128, { db: array(0, 'u64', 4), dr6: u64(32), dr7: u64(40), flags: u64(48) });
/**
 * KVM_GET_DIRTY_LOG's struct. Its dirty_bitmap pointer is never written from here: the shim takes the
 * struct followed by room for the bitmap (one bit per page, in whole u64s) and points the kernel there.
 */
export const kvmDirtyLog = struct('kvm_dirty_log', 16, { slot: u32(0) });
/** kvm_userspace_memory_region.flags: the slot's writes are logged for KVM_GET_DIRTY_LOG. */
export const KVM_MEM_LOG_DIRTY_PAGES = 1;
/** kvm_msr_list: a u32 count, then that many u32 MSR indices. */
export const kvmMsrList = struct('kvm_msr_list', 4, { count: u32(0) });

/** The fixed part of struct kvm_run (the page mmapped from a vCPU fd). */
export const kvmRun = {
  requestInterruptWindow: 0,
  immediateExit: 1,
  exitReason: 8,
  readyForInterruptInjection: 12,
  ifFlag: 13,
  flags: 14,
  cr8: 16,
  apicBase: 24,
  /** The exit-specific union starts here. */
  exit: 32,
} as const;

export const kvmRunIo = struct('kvm_run.io', 16, { direction: u8(0), size: u8(1), port: u16(2), count: u32(4), dataOffset: u64(8) });
export const kvmRunMmio = struct('kvm_run.mmio', 24, { physAddr: u64(0), data: array(8, 'u8', 8), len: u32(16), isWrite: u8(20) });
export const kvmRunInternal = struct('kvm_run.internal', 136, { suberror: u32(0), ndata: u32(4), data: array(8, 'u64', 16) });
export const kvmRunSystemEvent = struct('kvm_run.system_event', 136, { type: u32(0), ndata: u32(4), data: array(8, 'u64', 16) });
export const kvmRunFailEntry = struct('kvm_run.fail_entry', 16, { hardwareEntryFailureReason: u64(0), cpu: u32(8) });
export const kvmRunException = struct('kvm_run.ex', 8, { exception: u32(0), errorCode: u32(4) });
export const kvmRunHw = struct('kvm_run.hw', 8, { hardwareExitReason: u64(0) });
export const kvmRunXen = struct('kvm_run.xen', 80, {
  type: u32(0), longMode: u32(8), cpl: u32(12), input: u64(16), result: u64(24), params: array(32, 'u64', 6),
});
