// The C++ shim (native/), loaded once. Its functions are flat and unchecked by types: the classes in
// this directory validate and default, and turn a negative errno into a KvmError.
import { addonPath } from '../paths';

export interface FdHandle {
  readonly fd: number;
  readonly kind: 'system' | 'vm' | 'vcpu' | 'eventfd' | 'none';
  readonly closed: boolean;
  close(): void;
}

export interface Mapping {
  /** The mapped bytes, zero-copy; detached by unmap(). */
  readonly buffer: ArrayBuffer;
  /** The host virtual address, as the kernel sees it (userspace_addr, Xen HVAs). */
  readonly address: bigint;
  readonly size: number;
  readonly unmapped: boolean;
  /** MAP_FIXED a private /dev/zero mapping over a page range; 0 or -errno. */
  remapZero(offset: number, length: number): number;
  unmap(): void;
}

export interface VcpuRunner {
  /** KVM_RUN on this thread: 0, -EINTR (kicked), -ETIMEDOUT, or -errno. No timeout when absent. */
  runSync(timeoutMs?: number): number;
  /**
   * KVM_RUN on the runner's own thread. Waits up to spinUs for it to end: returns the result then, or
   * undefined, in which case the result goes to onDone through the event loop.
   */
  runAsync(timeoutMs: number, spinUs: number): number | undefined;
  /** sched_yield() on the runner's thread until its run delay grew by ns; growth or -errno to onDone. */
  yieldAsync(ns: number, timeoutMs: number): void;
  /** A vCPU ioctl on the thread that runs the vCPU (see vcpu_runner.h); result or -errno. */
  ioctl(request: number, arg?: number | ArrayBufferView | ArrayBuffer): number;
  kick(): void;
  close(): void;
  readonly busy: boolean;
  /** The OS thread id of the runner's thread (0 before its first async job). */
  readonly threadId: number;
}

export interface IoctlLoopEntry {
  request: number;
  arg?: Uint8Array | number;
  stopPoint?: boolean;
}

export interface IoctlLoop {
  /** Stops after the next stop point; returns the number of completed passes. */
  stop(): number;
}

export interface RequestInfo {
  readonly name: string;
  readonly number: number;
  readonly size: number;
  readonly entrySize: number;
  readonly kinds: readonly string[];
  /** Xen attributes of this request that carry a host address, which the shim checks and pins. */
  readonly hostAddressAttributes: readonly HostAddressAttribute[];
}

export interface HostAddressAttribute {
  /** The attribute's name in lib/xen/attributes.ts. */
  readonly name: string;
  readonly type: number;
  /** The attribute that sets the same place by guest address (and drops the pin). */
  readonly guestType: number;
  /** The bytes the kernel uses from the address on. */
  readonly bytes: number;
}

type Bytes = ArrayBufferView | ArrayBuffer;

export interface NativeAddon {
  requests(): RequestInfo[];
  openDevice(path: string): FdHandle | number;
  ioctl(handle: FdHandle, request: number, arg?: number | Bytes): number | FdHandle;
  mapAnonymous(size: number): Mapping | number;
  mapVcpuRun(vcpu: FdHandle, size: number): Mapping | number;
  eventfd(initval: number, semaphore: boolean): FdHandle | number;
  eventfdWrite(handle: FdHandle, value: bigint): number;
  eventfdRead(handle: FdHandle): bigint | number;
  readRunDelay(): bigint | number;
  yieldUntilRunDelay(ns: number, timeoutMs: number): number;
  VcpuRunner: new (vcpu: FdHandle, runMapping: Mapping, onDone: (result: number) => void) => VcpuRunner;
  IoctlLoop: new (handle: FdHandle, entries: IoctlLoopEntry[]) => IoctlLoop;
  FdHandle: new () => FdHandle;
  Mapping: new () => Mapping;
}

export const native: NativeAddon = loadAddon();

/**
 * dlopen() of the addon at its one known path. Not require(): for an absolute path that still stats
 * and realpaths each directory on the way, round trips over 9p in the QEMU guest (15-25 ms of
 * xen_shinfo_test's start-up there).
 */
function loadAddon(): NativeAddon {
  const module = { exports: {} };
  try {
    process.dlopen(module, addonPath);
  } catch (error) {
    throw new Error(`cannot load the addon ${addonPath} (built by \`npm install\` or \`npx node-gyp build\`): ${(error as Error).message}`);
  }
  return module.exports as NativeAddon;
}
