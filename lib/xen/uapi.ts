// KVM's Xen uAPI structs (arch/x86/include/uapi/asm/kvm.h), each declared once. Union members share
// offsets, as in C: a field name says which member it is.
import { i32, struct, u16, u32, u64, u8 } from '../kvm/layout';

export const kvmXenHvmConfig = struct('kvm_xen_hvm_config', 56, {
  flags: u32(0), msr: u32(4), blobAddr32: u64(8), blobAddr64: u64(16), blobSize32: u8(24), blobSize64: u8(25),
});

export const kvmXenHvmAttr = struct('kvm_xen_hvm_attr', 72, {
  type: u16(0),
  // u.long_mode / u.vector / u.runstate_update_flag
  byte: u8(8),
  // u.shared_info.gfn / .hva
  u64: u64(8),
  // u.evtchn
  sendPort: u32(8), evtchnType: u32(12), evtchnFlags: u32(16),
  deliverPort: u32(20), deliverVcpu: u32(24), deliverPriority: u32(28),
  deliverEventfdPort: u32(20), deliverEventfdFd: i32(24),
  // u.xen_version
  u32: u32(8),
});

export const kvmXenVcpuAttr = struct('kvm_xen_vcpu_attr', 72, {
  type: u16(0),
  // u.gpa / u.hva
  u64: u64(8),
  // u.runstate
  runstateState: u64(8), runstateEntryTime: u64(16), timeRunning: u64(24), timeRunnable: u64(32), timeBlocked: u64(40), timeOffline: u64(48),
  // u.vcpu_id
  u32: u32(8),
  // u.timer
  timerPort: u32(8), timerPriority: u32(12), timerExpiresNs: u64(16),
  // u.vector
  byte: u8(8),
});

/** KVM_XEN_ATTR_TYPE_* (VM attributes). */
export const hvmAttrType = {
  LONG_MODE: 0, SHARED_INFO: 1, UPCALL_VECTOR: 2, EVTCHN: 3, XEN_VERSION: 4, RUNSTATE_UPDATE_FLAG: 5, SHARED_INFO_HVA: 6,
} as const;

/** KVM_XEN_VCPU_ATTR_TYPE_* (vCPU attributes). */
export const vcpuAttrType = {
  VCPU_INFO: 0, VCPU_TIME_INFO: 1, RUNSTATE_ADDR: 2, RUNSTATE_CURRENT: 3, RUNSTATE_DATA: 4, RUNSTATE_ADJUST: 5,
  VCPU_ID: 6, TIMER: 7, UPCALL_VECTOR: 8, VCPU_INFO_HVA: 9,
} as const;

/** kvm_xen_hvm_attr.u.evtchn.flags: mutually exclusive, compared with == by KVM. */
export const evtchnFlags = { ASSIGN: 0, DEASSIGN: 1, UPDATE: 2, RESET: 4 } as const;

/** KVM_XEN_INVALID_GFN / KVM_XEN_INVALID_GPA. */
export const XEN_INVALID_GFN = 0xffffffffffffffffn;
export const XEN_INVALID_GPA = 0xffffffffffffffffn;
