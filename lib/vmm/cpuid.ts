// Each vCPU's CPUID: what KVM supports (KVM_GET_SUPPORTED_CPUID), with the per-CPU APIC id filled in
// and a plain topology — every vCPU its own single-core package — which agrees with the MP table
// whatever the host's own topology is.
import type { CpuidEntry } from '../kvm';

const LEAF_FEATURES = 0x1;
const LEAF_CACHE_PARAMS = 0x4;
const LEAF_TOPOLOGY = 0xb;
const LEAF_TOPOLOGY_V2 = 0x1f;
const LEAF_EXT_FEATURES = 0x80000001;
const LEAF_AMD_SIZES = 0x80000008;
const LEAF_AMD_TOPOLOGY = 0x8000001e;
/** CPUID.1:ECX bit 31: "running on a hypervisor". */
const HYPERVISOR = 1 << 31;
/** CPUID.1:EDX bit 28: more than one logical processor per package. */
const HTT = 1 << 28;
/** CPUID.80000001h:ECX bit 22: AMD's topology extensions (leaf 8000001Eh). */
const TOPOEXT = 1 << 22;

/**
 * The CPUID for vCPU `apicId`. Leaves 0xb and 0x1f and AMD's 0x8000001e are dropped: KVM answers a
 * leaf absent from the table with zeros, and Linux then reads the topology from leaf 1 and
 * 0x80000008, which say one thread, one core per package.
 */
export function vcpuCpuid(supported: readonly CpuidEntry[], apicId: number): CpuidEntry[] {
  return supported
    .filter((entry) => entry.function !== LEAF_TOPOLOGY && entry.function !== LEAF_TOPOLOGY_V2 && entry.function !== LEAF_AMD_TOPOLOGY)
    .map((supportedEntry) => {
      const entry = { ...supportedEntry };
      switch (entry.function) {
        case LEAF_FEATURES:
          // EBX: initial APIC id in 31:24, logical processors per package in 23:16.
          entry.ebx = ((apicId << 24) | (1 << 16) | (entry.ebx & 0xffff)) >>> 0;
          entry.ecx = (entry.ecx | HYPERVISOR) >>> 0;
          entry.edx = (entry.edx & ~HTT) >>> 0;
          break;
        case LEAF_CACHE_PARAMS:
          // EAX 31:26 cores per package - 1, 25:14 threads sharing the cache - 1.
          entry.eax = (entry.eax & 0x3fff) >>> 0;
          break;
        case LEAF_EXT_FEATURES:
          entry.ecx = (entry.ecx & ~TOPOEXT) >>> 0;
          break;
        case LEAF_AMD_SIZES:
          // ECX 7:0 cores per package - 1, 15:12 APIC id bits for the core.
          entry.ecx = (entry.ecx & ~0xf0ff) >>> 0;
          break;
      }
      return entry;
    });
}

/** CPUID leaf 1 EAX (family, model, stepping) and EDX (features), for the MP table's processor entries. */
export function processorSignature(cpuid: readonly CpuidEntry[]): { signature: number; features: number } {
  const leaf = cpuid.find((entry) => entry.function === LEAF_FEATURES);
  return { signature: leaf?.eax ?? 0, features: leaf?.edx ?? 0 };
}
