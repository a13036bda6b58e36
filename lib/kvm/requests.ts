// ioctl requests by name. The shim owns the numbers and checks fd kinds and buffer sizes; this file
// names them for TypeScript and turns failures into KvmErrors that carry the request's name.
import { check } from './errors';
import { native, type FdHandle, type RequestInfo } from './native';

export type RequestName =
  | 'KVM_GET_API_VERSION' | 'KVM_CREATE_VM' | 'KVM_CHECK_EXTENSION' | 'KVM_GET_VCPU_MMAP_SIZE'
  | 'KVM_GET_SUPPORTED_CPUID' | 'KVM_GET_MSR_INDEX_LIST' | 'KVM_GET_SUPPORTED_HV_CPUID'
  | 'KVM_CREATE_VCPU' | 'KVM_SET_USER_MEMORY_REGION' | 'KVM_CREATE_IRQCHIP' | 'KVM_SET_GSI_ROUTING'
  | 'KVM_IRQFD' | 'KVM_SIGNAL_MSI' | 'KVM_GET_CLOCK' | 'KVM_SET_CLOCK' | 'KVM_ENABLE_CAP'
  | 'KVM_XEN_HVM_CONFIG' | 'KVM_XEN_HVM_GET_ATTR' | 'KVM_XEN_HVM_SET_ATTR' | 'KVM_XEN_HVM_EVTCHN_SEND'
  | 'KVM_RUN' | 'KVM_GET_REGS' | 'KVM_SET_REGS' | 'KVM_GET_SREGS' | 'KVM_SET_SREGS' | 'KVM_SET_CPUID2'
  | 'KVM_GET_MSRS' | 'KVM_SET_MSRS' | 'KVM_GET_LAPIC' | 'KVM_SET_LAPIC' | 'KVM_GET_VCPU_EVENTS'
  | 'KVM_SET_VCPU_EVENTS' | 'KVM_GET_MP_STATE' | 'KVM_SET_MP_STATE' | 'KVM_GET_TSC_KHZ'
  | 'KVM_XEN_VCPU_GET_ATTR' | 'KVM_XEN_VCPU_SET_ATTR'
  // The platform a booted kernel expects (lib/vmm), and its state for snapshots.
  | 'KVM_SET_TSS_ADDR' | 'KVM_SET_IDENTITY_MAP_ADDR' | 'KVM_IRQ_LINE' | 'KVM_CREATE_PIT2'
  | 'KVM_GET_IRQCHIP' | 'KVM_SET_IRQCHIP' | 'KVM_GET_PIT2' | 'KVM_SET_PIT2'
  | 'KVM_GET_XSAVE' | 'KVM_SET_XSAVE' | 'KVM_GET_XCRS' | 'KVM_SET_XCRS'
  // Live migration (lib/vmm/migrate): pre-copy's dirty log, and the debug registers.
  | 'KVM_GET_DIRTY_LOG' | 'KVM_GET_DEBUGREGS' | 'KVM_SET_DEBUGREGS';

const table: RequestInfo[] = native.requests();
const indexByName = new Map<string, number>(table.map((info, index) => [info.name, index]));

export function requestIndex(name: RequestName): number {
  const index = indexByName.get(name);
  if (index === undefined) throw new Error(`the addon does not know ${name}`);
  return index;
}

export function requestInfo(name: RequestName): RequestInfo {
  return table[requestIndex(name)]!;
}

export function allRequests(): readonly RequestInfo[] {
  return table;
}

/** Performs a request that returns a number; throws KvmError naming the request on failure. */
export function ioctl(handle: FdHandle, name: RequestName, arg?: number | Uint8Array): number {
  const result = native.ioctl(handle, requestIndex(name), arg);
  if (typeof result !== 'number') throw new TypeError(`${name} returned an fd; use ioctlCreate`);
  return check(result, 'ioctl', name);
}

/** Like ioctl(), but returns -errno instead of throwing: for callers that expect some failures. */
export function tryIoctl(handle: FdHandle, name: RequestName, arg?: number | Uint8Array): number {
  const result = native.ioctl(handle, requestIndex(name), arg);
  if (typeof result !== 'number') throw new TypeError(`${name} returned an fd; use ioctlCreate`);
  return result;
}

/** Performs a request that creates an fd (KVM_CREATE_VM, KVM_CREATE_VCPU). */
export function ioctlCreate(handle: FdHandle, name: 'KVM_CREATE_VM' | 'KVM_CREATE_VCPU', arg: number): FdHandle {
  const result = native.ioctl(handle, requestIndex(name), arg);
  if (typeof result === 'number') {
    check(result, 'ioctl', name);
    throw new TypeError(`${name} returned no fd`);
  }
  return result;
}
