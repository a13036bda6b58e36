// Why KVM_RUN returned, decoded from the mmapped kvm_run page into a discriminated union. Data views
// (I/O and MMIO bytes) point into kvm_run itself: writing them answers an IN or an MMIO read, and they
// are valid until the next run.
import { viewOf } from './layout';
import {
  kvmRun, kvmRunException, kvmRunFailEntry, kvmRunHw, kvmRunInternal, kvmRunIo, kvmRunMmio, kvmRunSystemEvent, kvmRunXen,
} from './structs';

/** KVM_EXIT_* values (include/uapi/linux/kvm.h). */
export const exitReasons = {
  UNKNOWN: 0, EXCEPTION: 1, IO: 2, HYPERCALL: 3, DEBUG: 4, HLT: 5, MMIO: 6, IRQ_WINDOW_OPEN: 7, SHUTDOWN: 8,
  FAIL_ENTRY: 9, INTR: 10, SET_TPR: 11, TPR_ACCESS: 12, NMI: 16, INTERNAL_ERROR: 17, SYSTEM_EVENT: 24,
  XEN: 34,
} as const;

const reasonNames = new Map<number, string>(Object.entries(exitReasons).map(([name, value]) => [value, name]));

export interface IoExit {
  reason: 'io';
  direction: 'in' | 'out';
  port: number;
  /** Bytes per access: 1, 2 or 4. */
  size: number;
  /** Accesses (more than 1 for rep ins/outs). */
  count: number;
  /** size × count bytes inside kvm_run: the OUT data, or where to put the IN data. */
  data: Uint8Array;
}

export interface MmioExit {
  reason: 'mmio';
  address: bigint;
  isWrite: boolean;
  length: number;
  /** The written bytes, or where to put the read's result. */
  data: Uint8Array;
}

export interface XenHypercallExit {
  reason: 'xen';
  type: 'hcall';
  longMode: boolean;
  cpl: number;
  input: bigint;
  params: bigint[];
  /** Sets the hypercall's return value (RAX) for when the vCPU is run again. */
  setResult(value: bigint): void;
}

export type VcpuExit =
  | IoExit
  | MmioExit
  | XenHypercallExit
  | { reason: 'hlt' }
  | { reason: 'shutdown' }
  /** KVM_RUN was ended by kick(). */
  | { reason: 'kicked' }
  /** The run's own timeout passed. */
  | { reason: 'timeout' }
  | { reason: 'internal-error'; suberror: number; data: bigint[] }
  | { reason: 'fail-entry'; hardwareReason: bigint; cpu: number }
  | { reason: 'exception'; vector: number; errorCode: number }
  | { reason: 'system-event'; type: number; data: bigint[] }
  | { reason: 'unknown'; hardwareReason: bigint }
  /** Any other KVM_EXIT_* value, with the raw kvm_run bytes of its union. */
  | { reason: 'raw'; code: number; name: string; union: Uint8Array };

export type ExitReason = VcpuExit['reason'];

const IO_IN = 0;
const io = {
  direction: kvmRunIo.fields.direction.offset, size: kvmRunIo.fields.size.offset, port: kvmRunIo.fields.port.offset,
  count: kvmRunIo.fields.count.offset, dataOffset: kvmRunIo.fields.dataOffset.offset,
};
const XEN_HCALL = 1;

/**
 * One vCPU's last I/O data view, handed back while the next I/O exit's data sits at the same place in
 * kvm_run (KVM keeps the PIO data at one offset): a new subarray per exit was a tenth of the library's
 * run path. A data view is valid until the next run either way.
 */
export interface IoDataCache {
  offset: number;
  length: number;
  data: Uint8Array | undefined;
}

/** An empty cache for decodeExit, one per vCPU (per kvm_run mapping). */
export function ioDataCache(): IoDataCache {
  return { offset: 0, length: 0, data: undefined };
}

/**
 * Decodes the exit KVM_RUN left in `run` (the kvm_run mapping's bytes). `cache`: reuse the I/O data
 * view of the previous exit of the same `run` when it is at the same place.
 */
export function decodeExit(run: Uint8Array, view: DataView = viewOf(run), cache?: IoDataCache): VcpuExit {
  const code = view.getUint32(kvmRun.exitReason, true);
  const at = kvmRun.exit;
  switch (code) {
    case exitReasons.IO: {
      // The hot path (every ucall, every PIO): plain DataView reads at the struct's offsets.
      const size = view.getUint8(at + io.size);
      const count = view.getUint32(at + io.count, true);
      // An offset into the kvm_run mapping, so the low 32 bits are all of it (and need no BigInt).
      const offset = view.getUint32(at + io.dataOffset, true);
      const length = size * count;
      let data: Uint8Array;
      if (cache?.data !== undefined && cache.offset === offset && cache.length === length) {
        data = cache.data;
      } else {
        data = run.subarray(offset, offset + length);
        if (cache !== undefined) {
          cache.offset = offset;
          cache.length = length;
          cache.data = data;
        }
      }
      return {
        reason: 'io', direction: view.getUint8(at + io.direction) === IO_IN ? 'in' : 'out', port: view.getUint16(at + io.port, true),
        size, count, data,
      };
    }
    case exitReasons.MMIO: {
      const length = Math.min(kvmRunMmio.get(view, at, 'len'), 8);
      const dataAt = at + kvmRunMmio.fields.data.offset;
      return {
        reason: 'mmio', address: kvmRunMmio.get(view, at, 'physAddr'), isWrite: kvmRunMmio.get(view, at, 'isWrite') !== 0,
        length, data: run.subarray(dataAt, dataAt + length),
      };
    }
    case exitReasons.XEN: {
      const xen = kvmRunXen.decode(view, at);
      if (xen.type !== XEN_HCALL) break;
      return {
        reason: 'xen', type: 'hcall', longMode: xen.longMode !== 0, cpl: xen.cpl, input: xen.input, params: xen.params,
        setResult: (value: bigint) => kvmRunXen.set(view, at, 'result', value),
      };
    }
    case exitReasons.HLT:
      return { reason: 'hlt' };
    case exitReasons.SHUTDOWN:
      return { reason: 'shutdown' };
    case exitReasons.INTR:
      return { reason: 'kicked' };
    case exitReasons.INTERNAL_ERROR: {
      const internal = kvmRunInternal.decode(view, at);
      return { reason: 'internal-error', suberror: internal.suberror, data: internal.data.slice(0, Math.min(internal.ndata, 16)) };
    }
    case exitReasons.FAIL_ENTRY: {
      const fail = kvmRunFailEntry.decode(view, at);
      return { reason: 'fail-entry', hardwareReason: fail.hardwareEntryFailureReason, cpu: fail.cpu };
    }
    case exitReasons.EXCEPTION: {
      const ex = kvmRunException.decode(view, at);
      return { reason: 'exception', vector: ex.exception, errorCode: ex.errorCode };
    }
    case exitReasons.SYSTEM_EVENT: {
      const event = kvmRunSystemEvent.decode(view, at);
      return { reason: 'system-event', type: event.type, data: event.data.slice(0, Math.min(event.ndata, 16)) };
    }
    case exitReasons.UNKNOWN:
      return { reason: 'unknown', hardwareReason: kvmRunHw.get(view, at, 'hardwareExitReason') };
  }
  return { reason: 'raw', code, name: reasonNames.get(code) ?? `KVM_EXIT_${code}`, union: run.subarray(at, at + 256) };
}

/** One line for messages: "io out port 0x1000 size 4", "internal-error suberror 1". */
export function describeExit(exit: VcpuExit): string {
  switch (exit.reason) {
    case 'io': return `io ${exit.direction} port 0x${exit.port.toString(16)} size ${exit.size} count ${exit.count}`;
    case 'mmio': return `mmio ${exit.isWrite ? 'write' : 'read'} 0x${exit.address.toString(16)} length ${exit.length}`;
    case 'xen': return `xen hcall input ${exit.input} params [${exit.params.join(', ')}] cpl ${exit.cpl}`;
    case 'internal-error': return `internal-error suberror ${exit.suberror} data [${exit.data.map((d) => '0x' + d.toString(16)).join(', ')}]`;
    case 'fail-entry': return `fail-entry hardware reason 0x${exit.hardwareReason.toString(16)} cpu ${exit.cpu}`;
    case 'exception': return `exception vector ${exit.vector} error code 0x${exit.errorCode.toString(16)}`;
    case 'system-event': return `system-event type ${exit.type}`;
    case 'unknown': return `unknown hardware reason 0x${exit.hardwareReason.toString(16)}`;
    case 'raw': return `${exit.name} (${exit.code})`;
    default: return exit.reason;
  }
}
