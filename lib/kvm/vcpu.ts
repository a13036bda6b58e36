// A vCPU: registers, MSRs, CPUID, LAPIC, and running it — synchronously on this thread, or on the
// runner's own thread so the event loop stays free (timers, watchdogs, racing work) while the guest runs.
import os from 'node:os';

import { BusyError, check, ClosedError, KvmError } from './errors';
import { decodeExit, ioDataCache, type VcpuExit } from './exits';
import { viewOf, type Fields, type PartialValues, type Struct, type Values } from './layout';
import { native, type FdHandle, type Mapping, type VcpuRunner } from './native';
import { requestIndex, type RequestName } from './requests';
import {
  flexHeader, KVM_LAPIC_STATE_SIZE, kvmCpuidEntry2, kvmMpState, kvmMsrEntry, kvmRegs, kvmRun, kvmSregs, kvmVcpuEvents,
} from './structs';
import { KVM_XSAVE_SIZE, kvmDebugregs, kvmXcrs } from './structs';

export type Regs = Values<typeof kvmRegs.fields>;
export type Sregs = Values<typeof kvmSregs.fields>;
export type VcpuEvents = Values<typeof kvmVcpuEvents.fields>;
export type CpuidEntry = Values<typeof kvmCpuidEntry2.fields>;

/** What the VM that creates a vCPU tells it: a Vcpu does not reach back into its Vm. */
export interface VcpuContext {
  /** The VM had the in-kernel irqchip when it created the vCPU (KVM refuses one later): a LAPIC in the kernel. */
  readonly inKernelLapic: boolean;
  /** Called once, when the vCPU is closed. */
  readonly onClose: (vcpu: Vcpu) => void;
}

export interface RunOptions {
  /** End the run with { reason: 'timeout' } after this many ms (0 or absent: no limit). */
  timeoutMs?: number;
}

const { EINTR, ETIMEDOUT } = os.constants.errno;

// runAsync waits this long for a run to end before it hands the wait to the event loop: most exits take
// a few microseconds, far less than a thread wake-up through the event loop.
const ASYNC_SPIN_US = 50;
// ...but never for longer than this in a row, so that timers and I/O get their turn even when a guest
// exits constantly: then one result goes through the event loop.
const EVENT_LOOP_TURN_MS = 2;

// Vcpus with an async job in flight stay reachable until it ends, whatever the caller holds.
const inFlight = new Set<Vcpu>();

type Pending =
  | { kind: 'run'; resolve: (exit: VcpuExit) => void; reject: (error: Error) => void }
  | { kind: 'yield'; resolve: (grown: number) => void; reject: (error: Error) => void };

export class Vcpu implements Disposable {
  /** The kvm_run page's bytes, zero-copy. */
  readonly run: Uint8Array;
  private readonly runView: DataView;
  private readonly runMapping: Mapping;
  private readonly ioData = ioDataCache();
  private readonly runner: VcpuRunner;
  private pending: Pending | undefined;
  private closedByUser = false;
  private cpuidEntries: readonly CpuidEntry[] = [];
  /** When the current run of results returned without the event loop began (0: none). */
  private spinningSince = 0;

  /** Whether KVM emulates this vCPU's LAPIC (get/setLapic work). */
  readonly inKernelLapic: boolean;
  private readonly onClose: (vcpu: Vcpu) => void;

  constructor(readonly id: number, readonly handle: FdHandle, mmapSize: number, context: VcpuContext) {
    this.inKernelLapic = context.inKernelLapic;
    this.onClose = context.onClose;
    const mapping = native.mapVcpuRun(handle, mmapSize);
    if (typeof mapping === 'number') {
      handle.close();
      check(mapping, 'mmap', undefined, 'kvm_run');
    }
    this.runMapping = mapping as Mapping;
    this.run = new Uint8Array(this.runMapping.buffer);
    this.runView = viewOf(this.run);
    // The callback holds the Vcpu weakly, so a Vcpu dropped without close() can still be collected.
    const self = new WeakRef(this);
    this.runner = new native.VcpuRunner(handle, this.runMapping, (result) => self.deref()?.finish(result));
  }

  get closed(): boolean {
    return this.closedByUser || this.handle.closed;
  }

  getRegs(): Regs {
    return kvmRegs.decode(this.getStruct('KVM_GET_REGS', kvmRegs.size));
  }

  /** Sets the given registers; the others keep their values. */
  setRegs(values: PartialValues<typeof kvmRegs.fields>): void {
    this.updateStruct('KVM_GET_REGS', 'KVM_SET_REGS', kvmRegs, values);
  }

  getSregs(): Sregs {
    return kvmSregs.decode(this.getStruct('KVM_GET_SREGS', kvmSregs.size));
  }

  /** Sets the given special registers (segments may be partial); the others keep their values. */
  setSregs(values: PartialValues<typeof kvmSregs.fields>): void {
    this.updateStruct('KVM_GET_SREGS', 'KVM_SET_SREGS', kvmSregs, values);
  }

  /** Reads MSRs; throws if KVM could not read all of them. */
  getMsrs(indices: readonly number[]): Map<number, bigint> {
    const bytes = this.encodeMsrs(indices.map((index) => ({ index, data: 0n })));
    const read = this.ioctl('KVM_GET_MSRS', bytes);
    if (read !== indices.length) throw new KvmError('ioctl', os.constants.errno.EINVAL, 'KVM_GET_MSRS', `MSR 0x${indices[read]?.toString(16)} is not readable`);
    const view = viewOf(bytes);
    return new Map(indices.map((index, i) => [index, kvmMsrEntry.get(view, flexHeader.size + i * kvmMsrEntry.size, 'data')]));
  }

  /** Writes MSRs; throws if KVM refused one of them. */
  setMsrs(entries: ReadonlyArray<readonly [index: number, value: bigint]>): void {
    const written = this.ioctl('KVM_SET_MSRS', this.encodeMsrs(entries.map(([index, data]) => ({ index, data }))));
    if (written !== entries.length) throw new KvmError('ioctl', os.constants.errno.EINVAL, 'KVM_SET_MSRS', `MSR 0x${entries[written]?.[0].toString(16)} was refused`);
  }

  /** The CPUID last set with setCpuid (KVM has no way to read it back). */
  get cpuid(): readonly CpuidEntry[] {
    return this.cpuidEntries;
  }

  setCpuid(entries: readonly CpuidEntry[]): void {
    const bytes = new Uint8Array(flexHeader.size + entries.length * kvmCpuidEntry2.size);
    const view = viewOf(bytes);
    flexHeader.set(view, 0, 'count', entries.length);
    entries.forEach((entry, i) => kvmCpuidEntry2.write(view, flexHeader.size + i * kvmCpuidEntry2.size, entry));
    this.ioctl('KVM_SET_CPUID2', bytes);
    this.cpuidEntries = entries.map((entry) => ({ ...entry }));
  }

  /** The in-kernel LAPIC's 1 KiB register page (KVM_GET_LAPIC). */
  getLapic(): Uint8Array {
    const bytes = new Uint8Array(KVM_LAPIC_STATE_SIZE);
    this.ioctl('KVM_GET_LAPIC', bytes);
    return bytes;
  }

  setLapic(state: Uint8Array): void {
    this.ioctl('KVM_SET_LAPIC', state);
  }

  getMpState(): number {
    const bytes = new Uint8Array(kvmMpState.size);
    this.ioctl('KVM_GET_MP_STATE', bytes);
    return kvmMpState.decode(bytes).mpState;
  }

  setMpState(mpState: number): void {
    this.ioctl('KVM_SET_MP_STATE', kvmMpState.encode({ mpState }));
  }

  getEvents(): VcpuEvents {
    const bytes = new Uint8Array(kvmVcpuEvents.size);
    this.ioctl('KVM_GET_VCPU_EVENTS', bytes);
    return kvmVcpuEvents.decode(bytes);
  }

  setEvents(events: VcpuEvents): void {
    this.ioctl('KVM_SET_VCPU_EVENTS', kvmVcpuEvents.encode(events));
  }

  /** The FPU/SSE/AVX state as the legacy 4 KiB XSAVE area (KVM_GET_XSAVE), for setXsave. */
  getXsave(): Uint8Array {
    return this.getStruct('KVM_GET_XSAVE', KVM_XSAVE_SIZE);
  }

  setXsave(state: Uint8Array): void {
    this.ioctl('KVM_SET_XSAVE', state);
  }

  /** The extended control registers (XCR0) as the whole kvm_xcrs, for setXcrs. */
  getXcrs(): Uint8Array {
    return this.getStruct('KVM_GET_XCRS', kvmXcrs.size);
  }

  setXcrs(state: Uint8Array): void {
    this.ioctl('KVM_SET_XCRS', state);
  }

  /** The debug registers as the whole kvm_debugregs (KVM_GET_DEBUGREGS), for setDebugregs. */
  getDebugregs(): Uint8Array {
    return this.getStruct('KVM_GET_DEBUGREGS', kvmDebugregs.size);
  }

  setDebugregs(state: Uint8Array): void {
    this.ioctl('KVM_SET_DEBUGREGS', state);
  }

  /**
   * Any vCPU ioctl the addon knows; throws KvmError on failure. It runs on the thread that runs the
   * vCPU (see native/vcpu_runner.h for why that matters).
   */
  ioctl(name: RequestName, arg?: number | Uint8Array): number {
    return check(this.tryIoctl(name, arg), 'ioctl', name);
  }

  /** Like ioctl(), but returns -errno instead of throwing. */
  tryIoctl(name: RequestName, arg?: number | Uint8Array): number {
    this.open();
    return this.runner.ioctl(requestIndex(name), arg);
  }

  /** Runs the guest on this thread until its next exit. Blocks the event loop meanwhile. */
  runSync(options?: RunOptions): VcpuExit {
    // The hot path: only the cheap JavaScript-side closed check; the shim refuses a closed fd anyway.
    if (this.closedByUser) throw new ClosedError(`vCPU ${this.id}`);
    return this.exitFrom(options === undefined ? this.runner.runSync() : this.runner.runSync(timeoutOf(options)));
  }

  /**
   * Runs the guest on the vCPU's own thread and resolves with the exit; the event loop stays free while
   * the guest runs (see ASYNC_SPIN_US for the short exits). One run at a time.
   */
  runAsync(options: RunOptions = {}): Promise<VcpuExit> {
    // Every failure comes as a rejection, a closed vCPU and a bad option too: callers handle one path.
    // The hot path, as in runSync: only the cheap JavaScript-side closed check.
    if (this.closedByUser) return Promise.reject(new ClosedError(`vCPU ${this.id}`));
    let timeoutMs: number;
    try {
      timeoutMs = timeoutOf(options);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    if (this.pending) return Promise.reject(new BusyError(`vCPU ${this.id}`));
    const now = performance.now();
    if (this.spinningSince === 0) this.spinningSince = now;
    const spinUs = now - this.spinningSince < EVENT_LOOP_TURN_MS ? ASYNC_SPIN_US : 0;
    let result: number | undefined;
    try {
      result = this.runner.runAsync(timeoutMs, spinUs);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    if (result !== undefined) {
      try {
        return Promise.resolve(this.exitFrom(result));
      } catch (error) {
        return Promise.reject(error as Error);
      }
    }
    this.spinningSince = 0;
    return new Promise<VcpuExit>((resolve, reject) => this.await({ kind: 'run', resolve, reject }));
  }

  /**
   * Completes an exit's pending I/O without running guest code (KVM_RUN with immediate_exit), so the
   * vCPU's registers are consistent — e.g. RIP past the OUT of a ucall — before they are saved.
   */
  async completePendingIo(): Promise<void> {
    this.open();
    this.run[kvmRun.immediateExit] = 1;
    const exit = await this.runAsync();
    if (exit.reason !== 'kicked') throw new Error(`completing pending I/O ran the guest: ${exit.reason}`);
  }

  /** Ends a run in progress (it resolves with { reason: 'kicked' }); does nothing when idle. */
  kick(): void {
    if (!this.closed) this.runner.kick();
  }

  /**
   * sched_yield() on the thread that runs this vCPU until its scheduler run delay has grown by `ns`
   * (KVM counts that delay as Xen steal time): the runner's thread once async runs have started it,
   * else this thread, which is then the one calling KVM_RUN. Resolves with the growth in ns.
   */
  yieldUntilRunDelay(ns: number, timeoutMs = 10000): Promise<number> {
    try {
      this.open();
      if (this.pending) throw new BusyError(`vCPU ${this.id}`);
      if (this.runner.threadId === 0) {
        const grown = native.yieldUntilRunDelay(ns, timeoutMs);
        if (grown < 0) throw new KvmError('sched_yield', -grown, undefined, 'waiting for this thread\'s run delay to grow');
        return Promise.resolve(grown);
      }
      this.runner.yieldAsync(ns, timeoutMs);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return new Promise<number>((resolve, reject) => this.await({ kind: 'yield', resolve, reject }));
  }

  /** The OS thread that runs async jobs (0 before the first one). */
  get threadId(): number {
    return this.runner.threadId;
  }

  close(): void {
    if (this.closedByUser) return;
    this.closedByUser = true;
    this.runner.close();
    this.runMapping.unmap();
    this.handle.close();
    this.onClose(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Records the job whose result will come through the event loop (finish()). */
  private await(pending: Pending): void {
    this.pending = pending;
    inFlight.add(this);
  }

  private finish(result: number): void {
    const pending = this.pending;
    this.pending = undefined;
    inFlight.delete(this);
    if (!pending) return;
    if (pending.kind === 'yield') {
      if (result < 0) pending.reject(new KvmError('sched_yield', -result, undefined, 'waiting for the vCPU thread\'s run delay to grow'));
      else pending.resolve(result);
      return;
    }
    try {
      pending.resolve(this.exitFrom(result));
    } catch (error) {
      pending.reject(error as Error);
    }
  }

  private exitFrom(result: number): VcpuExit {
    if (result === 0) return decodeExit(this.run, this.runView, this.ioData);
    if (result === -EINTR) return { reason: 'kicked' };
    if (result === -ETIMEDOUT) return { reason: 'timeout' };
    throw new KvmError('ioctl', -result, 'KVM_RUN');
  }

  private getStruct(request: RequestName, size: number): Uint8Array {
    const bytes = new Uint8Array(size);
    this.ioctl(request, bytes);
    return bytes;
  }

  /** Read, change the given fields, write back: KVM's SET ioctls take the whole struct. */
  private updateStruct<F extends Fields>(get: RequestName, set: RequestName, layout: Struct<F>, values: PartialValues<F>): void {
    const bytes = this.getStruct(get, layout.size);
    layout.write(viewOf(bytes), 0, values);
    this.ioctl(set, bytes);
  }

  private encodeMsrs(entries: ReadonlyArray<{ index: number; data: bigint }>): Uint8Array {
    const bytes = new Uint8Array(flexHeader.size + entries.length * kvmMsrEntry.size);
    const view = viewOf(bytes);
    flexHeader.set(view, 0, 'count', entries.length);
    entries.forEach((entry, i) => kvmMsrEntry.write(view, flexHeader.size + i * kvmMsrEntry.size, entry));
    return bytes;
  }

  private open(): FdHandle {
    if (this.closed) throw new ClosedError(`vCPU ${this.id}`);
    return this.handle;
  }
}

function timeoutOf(options: RunOptions): number {
  const timeoutMs = options.timeoutMs ?? 0;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0) throw new RangeError('timeoutMs must be a non-negative integer');
  return timeoutMs;
}
