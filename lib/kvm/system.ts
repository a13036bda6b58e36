// /dev/kvm: capabilities, CPUID support, and VM creation.
import { checkExtension, decodeXenHvmCaps, type CapabilityName, type XenHvmCaps } from './caps';
import { check, ClosedError } from './errors';
import { viewOf } from './layout';
import { native, type FdHandle } from './native';
import { ioctl, ioctlCreate } from './requests';
import { flexHeader, kvmCpuidEntry2, kvmMsrList } from './structs';
import type { CpuidEntry } from './vcpu';
import { Vm } from './vm';

/** KVM_MAX_CPUID_ENTRIES in the kernel. */
const MAX_CPUID_ENTRIES = 256;
/** Room for KVM_GET_MSR_INDEX_LIST's answer (6.12 x86 lists about 140; E2BIG says if it ever grows past). */
const MAX_MSR_INDICES = 1024;

export class Kvm implements Disposable {
  private constructor(readonly handle: FdHandle, readonly path: string) {}

  /** Opens the KVM device (read-write, close-on-exec). */
  static open(path = '/dev/kvm'): Kvm {
    if (typeof path !== 'string') throw new TypeError('path must be a string');
    const result = native.openDevice(path);
    if (typeof result === 'number') check(result, 'open', undefined, path);
    return new Kvm(result as FdHandle, path);
  }

  get closed(): boolean {
    return this.handle.closed;
  }

  apiVersion(): number {
    return ioctl(this.open(), 'KVM_GET_API_VERSION');
  }

  /** KVM_CHECK_EXTENSION: 0 when absent, otherwise 1 or a capability-specific value. */
  checkExtension(capability: CapabilityName | number): number {
    return checkExtension(this.open(), capability);
  }

  /** KVM_CAP_XEN_HVM decoded into its flag names. */
  xenHvmCaps(): XenHvmCaps {
    return decodeXenHvmCaps(this.checkExtension('KVM_CAP_XEN_HVM'));
  }

  vcpuMmapSize(): number {
    return ioctl(this.open(), 'KVM_GET_VCPU_MMAP_SIZE');
  }

  /** KVM_GET_SUPPORTED_CPUID: what a vCPU may be given with KVM_SET_CPUID2. */
  supportedCpuid(): CpuidEntry[] {
    return this.cpuidList('KVM_GET_SUPPORTED_CPUID');
  }

  /** KVM_GET_SUPPORTED_HV_CPUID: the Hyper-V leaves KVM can emulate. */
  supportedHvCpuid(): CpuidEntry[] {
    return this.cpuidList('KVM_GET_SUPPORTED_HV_CPUID');
  }

  /** KVM_GET_MSR_INDEX_LIST: the MSRs a VMM saves and restores for a vCPU (its own and the emulated ones). */
  msrIndexList(): number[] {
    const bytes = new Uint8Array(kvmMsrList.size + MAX_MSR_INDICES * 4);
    const view = viewOf(bytes);
    kvmMsrList.set(view, 0, 'count', MAX_MSR_INDICES);
    ioctl(this.open(), 'KVM_GET_MSR_INDEX_LIST', bytes);
    const count = kvmMsrList.get(view, 0, 'count');
    return Array.from({ length: count }, (_, i) => view.getUint32(kvmMsrList.size + i * 4, true));
  }

  createVm(type = 0): Vm {
    const handle = ioctlCreate(this.open(), 'KVM_CREATE_VM', type);
    return new Vm(handle, this.vcpuMmapSize());
  }

  /** Closes /dev/kvm; VMs created from it stay usable (they hold their own fds). */
  close(): void {
    this.handle.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private cpuidList(request: 'KVM_GET_SUPPORTED_CPUID' | 'KVM_GET_SUPPORTED_HV_CPUID'): CpuidEntry[] {
    const bytes = new Uint8Array(flexHeader.size + MAX_CPUID_ENTRIES * kvmCpuidEntry2.size);
    const view = viewOf(bytes);
    flexHeader.set(view, 0, 'count', MAX_CPUID_ENTRIES);
    ioctl(this.open(), request, bytes);
    const count = flexHeader.get(view, 0, 'count');
    const entries: CpuidEntry[] = [];
    for (let i = 0; i < count; i++) entries.push(kvmCpuidEntry2.decode(view, flexHeader.size + i * kvmCpuidEntry2.size));
    return entries;
  }

  private open(): FdHandle {
    if (this.handle.closed) throw new ClosedError('Kvm');
    return this.handle;
  }
}
