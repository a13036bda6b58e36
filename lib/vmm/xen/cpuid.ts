// The hypervisor CPUID leaves of a Xen HVM guest, in place of KVM's own. Linux looks for the
// "XenVMMXenVMM" signature from 0x40000000 in steps of 0x100 and also for KVM's; it picks the
// hypervisor whose base leaf is highest, so KVM's leaves (at 0x40000000 too) are dropped rather than
// moved up — the guest then runs on Xen's pvclock and event channels, not kvmclock.
import type { CpuidEntry } from '../../kvm';

export const XEN_CPUID_BASE = 0x40000000;
/** Leaves up to base + 4: signature, version, hypercall page, time, HVM. */
const XEN_CPUID_LAST = XEN_CPUID_BASE + 4;
/** "XenVMMXenVMM" as EBX, ECX, EDX. */
const SIGNATURE = { ebx: 0x566e6558, ecx: 0x65584d4d, edx: 0x4d4d566e } as const;
/** The range of hypervisor leaves KVM_GET_SUPPORTED_CPUID fills (KVM's own signature and features). */
const HYPERVISOR_LEAVES = { first: 0x40000000, last: 0x4fffffff } as const;
/** KVM_CPUID_FLAG_SIGNIFCANT_INDEX: the leaf has subleaves. */
const SIGNIFICANT_INDEX = 1;
/** Leaf base+4 EAX: the vCPU id is in EBX (so the guest need not assume it equals the CPU number). */
const HVM_VCPU_ID_PRESENT = 1 << 3;
/** Leaf base+4 EAX: HVMOP_set_evtchn_upcall_vector works (a per-vCPU vector through the LAPIC). */
const HVM_UPCALL_VECTOR = 1 << 6;

export interface XenCpuidOptions {
  /** Xen's version as major << 16 | minor. */
  version: number;
  /** The MSR the guest writes the hypercall page's address to. */
  hypercallMsr: number;
  /** Offer HVMOP_set_evtchn_upcall_vector (per-vCPU upcall vectors). */
  perVcpuUpcall: boolean;
}

/** `entries` without KVM's hypervisor leaves and with Xen's, for Xen vCPU `vcpuId`. */
export function withXenLeaves(entries: readonly CpuidEntry[], vcpuId: number, options: XenCpuidOptions): CpuidEntry[] {
  const leaf = (offset: number, values: Partial<CpuidEntry>): CpuidEntry => ({
    function: XEN_CPUID_BASE + offset, index: 0, flags: 0, eax: 0, ebx: 0, ecx: 0, edx: 0, ...values,
  });
  const xen = [
    leaf(0, { eax: XEN_CPUID_LAST, ...SIGNATURE }),
    leaf(1, { eax: options.version }),
    // One hypercall page, through this MSR (KVM fills the page when the guest writes it).
    leaf(2, { eax: 1, ebx: options.hypercallMsr }),
    // Time: subleaf 0 says TSC mode default; KVM fills subleaves 1 and 2 (the TSC's scale) itself.
    ...[0, 1, 2].map((index) => leaf(3, { index, flags: SIGNIFICANT_INDEX })),
    leaf(4, { eax: HVM_VCPU_ID_PRESENT | (options.perVcpuUpcall ? HVM_UPCALL_VECTOR : 0), ebx: vcpuId }),
  ];
  return [...entries.filter((entry) => entry.function < HYPERVISOR_LEAVES.first || entry.function > HYPERVISOR_LEAVES.last), ...xen];
}
