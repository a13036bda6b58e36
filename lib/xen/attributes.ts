// The Xen attributes of KVM_XEN_HVM_{SET,GET}_ATTR (VM fd) and KVM_XEN_VCPU_{SET,GET}_ATTR (vCPU fd),
// each with its name, number and value type. The two tables are separate types, so a vCPU attribute
// cannot be sent to the VM fd (nor the other way round).
import { viewOf, type Values } from '../kvm/layout';
import { hvmAttrType, kvmXenHvmAttr, kvmXenVcpuAttr, vcpuAttrType } from './uapi';

type HvmFields = Values<typeof kvmXenHvmAttr.fields>;
type VcpuFields = Values<typeof kvmXenVcpuAttr.fields>;

interface Codec<Fields, T> {
  readonly type: number;
  encode(value: T): Partial<Fields>;
  decode(fields: Fields): T;
}

const flag = <F extends { byte: number }>(type: number): Codec<F, boolean> => ({
  type, encode: (value) => ({ byte: value ? 1 : 0 } as Partial<F>), decode: (f) => f.byte !== 0,
});
const byte = <F extends { byte: number }>(type: number): Codec<F, number> => ({
  type, encode: (value) => ({ byte: value } as Partial<F>), decode: (f) => f.byte,
});
const word64 = <F extends { u64: bigint }>(type: number): Codec<F, bigint> => ({
  type, encode: (value) => ({ u64: value } as Partial<F>), decode: (f) => f.u64,
});
const word32 = <F extends { u32: number }>(type: number): Codec<F, number> => ({
  type, encode: (value) => ({ u32: value } as Partial<F>), decode: (f) => f.u32,
});

/** VM attributes that can be read and written (EVTCHN is write-only: see XenVm.assignEvtchn etc.). */
export const hvmAttributes = {
  /** The guest ABI width: true = 64-bit (long mode), false = 32-bit (compat). */
  LONG_MODE: flag<HvmFields>(hvmAttrType.LONG_MODE),
  /** The shared_info page by guest frame number; KVM_XEN_INVALID_GFN disables it. */
  SHARED_INFO: word64<HvmFields>(hvmAttrType.SHARED_INFO),
  /** The HVM-wide upcall vector, injected directly (not through the LAPIC); 0 disables it. */
  UPCALL_VECTOR: byte<HvmFields>(hvmAttrType.UPCALL_VECTOR),
  /** The value returned for XENVER_version. */
  XEN_VERSION: word32<HvmFields>(hvmAttrType.XEN_VERSION),
  /** Whether KVM sets XEN_RUNSTATE_UPDATE around runstate writes. */
  RUNSTATE_UPDATE_FLAG: flag<HvmFields>(hvmAttrType.RUNSTATE_UPDATE_FLAG),
  /** The shared_info page by host virtual address (a page of an addon mapping); 0 disables it. */
  SHARED_INFO_HVA: word64<HvmFields>(hvmAttrType.SHARED_INFO_HVA),
} as const;

export type HvmAttributeName = keyof typeof hvmAttributes;
export type HvmAttributeValue<N extends HvmAttributeName> = ReturnType<(typeof hvmAttributes)[N]['decode']>;

export interface RunstateData {
  state: number;
  stateEntryTime: bigint;
  timeRunning: bigint;
  timeRunnable: bigint;
  timeBlocked: bigint;
  timeOffline: bigint;
}

/** RUNSTATE_ADJUST: state -1 keeps the current state; the deltas (two's complement) must sum to the entry-time delta. */
export interface RunstateAdjust {
  state: number | -1;
  stateEntryTime?: bigint;
  timeRunning?: bigint;
  timeRunnable?: bigint;
  timeBlocked?: bigint;
  timeOffline?: bigint;
}

export interface XenTimer {
  /** The VIRQ_TIMER event-channel port; 0 disables in-kernel timer handling. */
  port: number;
  /** Must be KVM_IRQ_ROUTING_XEN_EVTCHN_PRIO_2LEVEL. */
  priority: number;
  /** Absolute expiry in guest kvmclock ns; 0 = not pending. */
  expiresNs: bigint;
}

const U64 = (1n << 64n) - 1n;
/** A signed delta as the u64 the kernel reads (C's (uint64_t) cast). */
export const asU64 = (value: bigint): bigint => value & U64;

/** vCPU attributes. RUNSTATE_ADJUST is write-only. */
export const vcpuAttributes = {
  /** vcpu_info by GPA; KVM_XEN_INVALID_GPA disables it. */
  VCPU_INFO: word64<VcpuFields>(vcpuAttrType.VCPU_INFO),
  /** The secondary pvclock (vcpu_time_info) by GPA. */
  VCPU_TIME_INFO: word64<VcpuFields>(vcpuAttrType.VCPU_TIME_INFO),
  /** The runstate area by GPA (may straddle a page). */
  RUNSTATE_ADDR: word64<VcpuFields>(vcpuAttrType.RUNSTATE_ADDR),
  RUNSTATE_CURRENT: {
    type: vcpuAttrType.RUNSTATE_CURRENT,
    encode: (state: number): Partial<VcpuFields> => ({ runstateState: BigInt(state) }),
    decode: (f: VcpuFields): number => Number(f.runstateState),
  },
  RUNSTATE_DATA: {
    type: vcpuAttrType.RUNSTATE_DATA,
    encode: (d: RunstateData): Partial<VcpuFields> => ({
      runstateState: BigInt(d.state), runstateEntryTime: d.stateEntryTime, timeRunning: d.timeRunning,
      timeRunnable: d.timeRunnable, timeBlocked: d.timeBlocked, timeOffline: d.timeOffline,
    }),
    decode: (f: VcpuFields): RunstateData => ({
      state: Number(f.runstateState), stateEntryTime: f.runstateEntryTime, timeRunning: f.timeRunning,
      timeRunnable: f.timeRunnable, timeBlocked: f.timeBlocked, timeOffline: f.timeOffline,
    }),
  },
  RUNSTATE_ADJUST: {
    type: vcpuAttrType.RUNSTATE_ADJUST,
    encode: (a: RunstateAdjust): Partial<VcpuFields> => ({
      runstateState: asU64(BigInt(a.state)), runstateEntryTime: asU64(a.stateEntryTime ?? 0n), timeRunning: asU64(a.timeRunning ?? 0n),
      timeRunnable: asU64(a.timeRunnable ?? 0n), timeBlocked: asU64(a.timeBlocked ?? 0n), timeOffline: asU64(a.timeOffline ?? 0n),
    }),
    decode: (): never => {
      throw new TypeError('RUNSTATE_ADJUST cannot be read');
    },
  },
  /** The Xen vCPU id (vcpu_info index, event-channel target). */
  VCPU_ID: word32<VcpuFields>(vcpuAttrType.VCPU_ID),
  TIMER: {
    type: vcpuAttrType.TIMER,
    encode: (t: XenTimer): Partial<VcpuFields> => ({ timerPort: t.port, timerPriority: t.priority, timerExpiresNs: t.expiresNs }),
    decode: (f: VcpuFields): XenTimer => ({ port: f.timerPort, priority: f.timerPriority, expiresNs: f.timerExpiresNs }),
  },
  /** A per-vCPU upcall vector, delivered through the LAPIC. */
  UPCALL_VECTOR: byte<VcpuFields>(vcpuAttrType.UPCALL_VECTOR),
  /** vcpu_info by host virtual address (only for the default place inside shared_info). */
  VCPU_INFO_HVA: word64<VcpuFields>(vcpuAttrType.VCPU_INFO_HVA),
} as const;

export type VcpuAttributeName = keyof typeof vcpuAttributes;
export type VcpuAttributeValue<N extends VcpuAttributeName> = Parameters<(typeof vcpuAttributes)[N]['encode']>[0];

/** The bytes of a kvm_xen_hvm_attr for SET (also what a racing ioctl loop repeats). */
export function encodeHvmAttr<N extends HvmAttributeName>(name: N, value: HvmAttributeValue<N>): Uint8Array {
  const codec = hvmAttributes[name] as Codec<HvmFields, HvmAttributeValue<N>>;
  return kvmXenHvmAttr.encode({ type: codec.type, ...codec.encode(value) });
}

export function encodeVcpuAttr<N extends VcpuAttributeName>(name: N, value: VcpuAttributeValue<N>): Uint8Array {
  const codec = vcpuAttributes[name] as unknown as Codec<VcpuFields, VcpuAttributeValue<N>>;
  return kvmXenVcpuAttr.encode({ type: codec.type, ...codec.encode(value) });
}

export function decodeHvmAttr<N extends HvmAttributeName>(name: N, bytes: Uint8Array): HvmAttributeValue<N> {
  return (hvmAttributes[name] as Codec<HvmFields, HvmAttributeValue<N>>).decode(kvmXenHvmAttr.decode(viewOf(bytes)));
}

export function decodeVcpuAttr<N extends Exclude<VcpuAttributeName, 'RUNSTATE_ADJUST'>>(name: N, bytes: Uint8Array): ReturnType<(typeof vcpuAttributes)[N]['decode']> {
  const codec = vcpuAttributes[name] as unknown as Codec<VcpuFields, ReturnType<(typeof vcpuAttributes)[N]['decode']>>;
  return codec.decode(kvmXenVcpuAttr.decode(viewOf(bytes)));
}
