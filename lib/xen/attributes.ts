// The Xen attributes of KVM_XEN_HVM_{SET,GET}_ATTR (VM fd) and KVM_XEN_VCPU_{SET,GET}_ATTR (vCPU fd),
// one row each: its number and value type, how it travels in a saved Xen state (lib/xen/state.ts), and
// whether it hands the kernel a host address (which the shim must check and pin: native/attribute_pins.h,
// kept equal to the rows by test/structs.test.ts). The two tables are separate types, so a vCPU
// attribute cannot be sent to the VM fd (nor the other way round). Rows are in the order a restore sets
// them.
import type { XenHvmFlag } from '../kvm/caps';
import { viewOf, type Values } from '../kvm/layout';
import { hvmAttrType, kvmXenHvmAttr, kvmXenVcpuAttr, vcpuAttrType, XEN_INVALID_GPA } from './uapi';

type HvmFields = Values<typeof kvmXenHvmAttr.fields>;
type VcpuFields = Values<typeof kvmXenVcpuAttr.fields>;

interface Codec<Fields, T> {
  readonly type: number;
  encode(value: T): Partial<Fields>;
  decode(fields: Fields): T;
}

/** How an attribute travels in a saved Xen state; attributes without one are not saved. */
export interface SaveRule<T = never> {
  /** Its field in XenVmState / XenVcpuState. */
  readonly field: string;
  /** The KVM_CAP_XEN_HVM flag without which KVM cannot read it: then the field is undefined. */
  readonly needs?: XenHvmFlag;
  /** KVM answers ENOENT while it was never set: then the field is undefined. */
  readonly mayBeUnset?: boolean;
  /** A value that means "not in use": saved, but not set again on restore. */
  readonly unused?: (value: T) => boolean;
  /** Set last on restore, with the event channels' delivery paths. */
  readonly delivery?: boolean;
  /** Unset by guest address, the place may have been given by this host-address attribute instead. */
  readonly orByHostAddress?: string;
}

/** An attribute whose u64 is a host virtual address the kernel keeps using. */
export interface HostAddress {
  /** The bytes the kernel uses from the address on. */
  readonly bytes: number;
  /** The attribute that sets the same place by guest address. */
  readonly byGuestAddress: string;
  /** The KVM_CAP_XEN_HVM flag that says KVM has it. */
  readonly needs: XenHvmFlag;
}

/** What every row of the two tables is (each row's own types are narrower). */
export interface AttributeRow {
  readonly type: number;
  encode(value: never): unknown;
  decode(fields: never): unknown;
  readonly save?: SaveRule<never>;
  readonly hostAddress?: HostAddress;
}

type ValueOf<Row> = Row extends { decode(fields: never): infer T } ? T : never;
type FieldOf<Row> = Row extends { save: { field: infer F extends string } } ? F : never;
type MaybeAbsent<Row> = Row extends { save: { needs: XenHvmFlag } } | { save: { mayBeUnset: true } } ? undefined : never;
/** The saved attributes of a table, each under its save rule's field. */
export type SavedAttributes<Table> = { -readonly [N in keyof Table as FieldOf<Table[N]>]: ValueOf<Table[N]> | MaybeAbsent<Table[N]> };

const flag = <F extends { byte: number }>(type: number): Codec<F, boolean> => ({
  type,
  encode: (value) => {
    if (typeof value !== 'boolean') throw new TypeError(`the value must be a boolean, got ${typeof value}`);
    return { byte: value ? 1 : 0 } as Partial<F>;
  },
  decode: (f) => f.byte !== 0,
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

const invalidGpa = (gpa: bigint): boolean => gpa === XEN_INVALID_GPA;

/** VM attributes that can be read and written (EVTCHN is write-only: see XenVm.assignEvtchn etc.). */
export const hvmAttributes = {
  /** The guest ABI width: true = 64-bit (long mode), false = 32-bit (compat). */
  LONG_MODE: { ...flag<HvmFields>(hvmAttrType.LONG_MODE), save: { field: 'longMode' } },
  /** Whether KVM sets XEN_RUNSTATE_UPDATE around runstate writes. */
  RUNSTATE_UPDATE_FLAG: {
    ...flag<HvmFields>(hvmAttrType.RUNSTATE_UPDATE_FLAG), save: { field: 'runstateUpdateFlag', needs: 'RUNSTATE_UPDATE_FLAG' },
  },
  /** The shared_info page by guest frame number; KVM_XEN_INVALID_GFN disables it. */
  SHARED_INFO: {
    ...word64<HvmFields>(hvmAttrType.SHARED_INFO), save: { field: 'sharedInfoGfn', orByHostAddress: 'SHARED_INFO_HVA' },
  },
  /** The HVM-wide upcall vector, injected directly (not through the LAPIC); 0 disables it. */
  UPCALL_VECTOR: { ...byte<HvmFields>(hvmAttrType.UPCALL_VECTOR), save: { field: 'upcallVector' } },
  /** The value returned for XENVER_version. */
  XEN_VERSION: word32<HvmFields>(hvmAttrType.XEN_VERSION),
  /** The shared_info page by host virtual address (a page of an addon mapping); 0 disables it. */
  SHARED_INFO_HVA: {
    ...word64<HvmFields>(hvmAttrType.SHARED_INFO_HVA),
    hostAddress: { bytes: 4096, byGuestAddress: 'SHARED_INFO', needs: 'SHARED_INFO_HVA' },
  },
} as const satisfies Record<string, AttributeRow>;

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
  /** The Xen vCPU id (vcpu_info index, event-channel target): first, as vcpu_info's default place depends on it. */
  VCPU_ID: { ...word32<VcpuFields>(vcpuAttrType.VCPU_ID), save: { field: 'xenVcpuId', needs: 'EVTCHN_SEND' } },
  /** vcpu_info by GPA; KVM_XEN_INVALID_GPA disables it. */
  VCPU_INFO: { ...word64<VcpuFields>(vcpuAttrType.VCPU_INFO), save: { field: 'vcpuInfo', unused: invalidGpa } },
  /** The secondary pvclock (vcpu_time_info) by GPA. */
  VCPU_TIME_INFO: { ...word64<VcpuFields>(vcpuAttrType.VCPU_TIME_INFO), save: { field: 'timeInfo', unused: invalidGpa } },
  /** The runstate area by GPA (may straddle a page). */
  RUNSTATE_ADDR: {
    ...word64<VcpuFields>(vcpuAttrType.RUNSTATE_ADDR),
    save: { field: 'runstateAddr', needs: 'RUNSTATE', mayBeUnset: true, unused: invalidGpa },
  },
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
    save: { field: 'runstate', needs: 'RUNSTATE' },
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
  /** A per-vCPU upcall vector, delivered through the LAPIC; 0: none. */
  UPCALL_VECTOR: {
    ...byte<VcpuFields>(vcpuAttrType.UPCALL_VECTOR), save: { field: 'upcallVector', needs: 'EVTCHN_SEND', unused: (vector: number) => vector === 0 },
  },
  /** KVM's VIRQ_TIMER: a delivery path, so restored last. */
  TIMER: {
    type: vcpuAttrType.TIMER,
    encode: (t: XenTimer): Partial<VcpuFields> => ({ timerPort: t.port, timerPriority: t.priority, timerExpiresNs: t.expiresNs }),
    decode: (f: VcpuFields): XenTimer => ({ port: f.timerPort, priority: f.timerPriority, expiresNs: f.timerExpiresNs }),
    save: { field: 'timer', needs: 'EVTCHN_SEND', unused: (t: XenTimer) => t.port === 0, delivery: true },
  },
  /** vcpu_info by host virtual address (only for the default place inside shared_info). */
  VCPU_INFO_HVA: {
    ...word64<VcpuFields>(vcpuAttrType.VCPU_INFO_HVA),
    hostAddress: { bytes: 64, byGuestAddress: 'VCPU_INFO', needs: 'SHARED_INFO_HVA' },
  },
} as const satisfies Record<string, AttributeRow>;

export type VcpuAttributeName = keyof typeof vcpuAttributes;
export type VcpuAttributeValue<N extends VcpuAttributeName> = Parameters<(typeof vcpuAttributes)[N]['encode']>[0];

/** The row of a VM attribute; a TypeError naming the attribute when there is none. */
export function hvmAttribute<N extends HvmAttributeName>(name: N): (typeof hvmAttributes)[N] {
  return rowOf(hvmAttributes, 'VM', name);
}

/** The row of a vCPU attribute; a TypeError naming the attribute when there is none. */
export function vcpuAttribute<N extends VcpuAttributeName>(name: N): (typeof vcpuAttributes)[N] {
  return rowOf(vcpuAttributes, 'vCPU', name);
}

function rowOf<Table extends Readonly<Record<string, AttributeRow>>, N extends keyof Table>(table: Table, kind: string, name: N): Table[N] {
  if (typeof name !== 'string' || !Object.hasOwn(table, name)) {
    throw new TypeError(`${String(name)} is not a Xen ${kind} attribute (one of ${Object.keys(table).join(', ')})`);
  }
  return table[name];
}

/** A bad value as a TypeError/RangeError that names the attribute (the codecs and layouts do not know it). */
function encodeNamed<T>(kind: string, name: string, encode: () => T): T {
  try {
    return encode();
  } catch (error) {
    const message = `Xen ${kind} attribute ${name}: ${(error as Error).message}`;
    throw error instanceof RangeError ? new RangeError(message, { cause: error }) : new TypeError(message, { cause: error });
  }
}

/** The bytes of a kvm_xen_hvm_attr for SET (also what a racing ioctl loop repeats). */
export function encodeHvmAttr<N extends HvmAttributeName>(name: N, value: HvmAttributeValue<N>): Uint8Array {
  const codec = hvmAttribute(name) as unknown as Codec<HvmFields, HvmAttributeValue<N>>;
  return encodeNamed('VM', name, () => kvmXenHvmAttr.encode({ type: codec.type, ...codec.encode(value) }));
}

export function encodeVcpuAttr<N extends VcpuAttributeName>(name: N, value: VcpuAttributeValue<N>): Uint8Array {
  const codec = vcpuAttribute(name) as unknown as Codec<VcpuFields, VcpuAttributeValue<N>>;
  return encodeNamed('vCPU', name, () => kvmXenVcpuAttr.encode({ type: codec.type, ...codec.encode(value) }));
}

/** The bytes of a kvm_xen_hvm_attr for GET: the type only, KVM fills the rest. */
export function hvmAttrQuery(name: HvmAttributeName): Uint8Array {
  return kvmXenHvmAttr.encode({ type: hvmAttribute(name).type });
}

export function vcpuAttrQuery(name: VcpuAttributeName): Uint8Array {
  return kvmXenVcpuAttr.encode({ type: vcpuAttribute(name).type });
}

export function decodeHvmAttr<N extends HvmAttributeName>(name: N, bytes: Uint8Array): HvmAttributeValue<N> {
  return (hvmAttribute(name) as unknown as Codec<HvmFields, HvmAttributeValue<N>>).decode(kvmXenHvmAttr.decode(viewOf(bytes)));
}

export function decodeVcpuAttr<N extends Exclude<VcpuAttributeName, 'RUNSTATE_ADJUST'>>(name: N, bytes: Uint8Array): ReturnType<(typeof vcpuAttributes)[N]['decode']> {
  const codec = vcpuAttribute(name) as unknown as Codec<VcpuFields, ReturnType<(typeof vcpuAttributes)[N]['decode']>>;
  return codec.decode(kvmXenVcpuAttr.decode(viewOf(bytes)));
}
