// The KVM uAPI the shim needs, on top of the installed <linux/kvm.h>. The build machines carry 6.1
// headers; everything newer is defined here, once. Struct layouts are not used here (TypeScript owns
// them, lib/kvm/structs.ts); only request numbers and the few fields the shim must check itself.
#pragma once
#include <linux/kvm.h>

// Xen attribute types added after 6.1 (arch/x86/include/uapi/asm/kvm.h in 6.9+).
#ifndef KVM_XEN_ATTR_TYPE_SHARED_INFO_HVA
#define KVM_XEN_ATTR_TYPE_SHARED_INFO_HVA 0x6
#endif
#ifndef KVM_XEN_VCPU_ATTR_TYPE_VCPU_INFO_HVA
#define KVM_XEN_VCPU_ATTR_TYPE_VCPU_INFO_HVA 0x9
#endif

// Offsets the shim reads to find host addresses that an ioctl hands to the kernel.
#define KVMXEN_ATTR_TYPE_OFFSET 0          // kvm_xen_{hvm,vcpu}_attr.type (u16)
#define KVMXEN_ATTR_U_OFFSET 8             // kvm_xen_{hvm,vcpu}_attr.u (gfn/gpa/hva, u64)
#define KVMXEN_REGION_SLOT_OFFSET 0        // kvm_userspace_memory_region.slot (u32)
#define KVMXEN_REGION_SIZE_OFFSET 16       // .memory_size (u64)
#define KVMXEN_REGION_UADDR_OFFSET 24      // .userspace_addr (u64)
#define KVMXEN_DIRTY_LOG_SLOT_OFFSET 0     // kvm_dirty_log.slot (u32)
#define KVMXEN_DIRTY_LOG_BITMAP_OFFSET 16  // where the bitmap starts in the shim's argument (after the struct)
#define KVMXEN_SHARED_INFO_BYTES 4096
#define KVMXEN_VCPU_INFO_BYTES 64

// Compiled as C++, the headers' flexible-array structs (__DECLARE_FLEX_ARRAY) gain a byte for the
// empty member, so the _IOC size inside these request numbers comes out wrong (e.g. KVM_SET_GSI_ROUTING
// as 0x4010AE6A instead of the kernel's 0x4008AE6A). Spell them with the C sizes of their headers.
#define KVMXEN_KVM_GET_MSR_INDEX_LIST _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x02, 4)
#define KVMXEN_KVM_GET_SUPPORTED_CPUID _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, 8)
#define KVMXEN_KVM_SET_GSI_ROUTING _IOC(_IOC_WRITE, KVMIO, 0x6a, 8)
#define KVMXEN_KVM_GET_MSRS _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x88, 8)
#define KVMXEN_KVM_SET_MSRS _IOC(_IOC_WRITE, KVMIO, 0x89, 8)
#define KVMXEN_KVM_SET_CPUID2 _IOC(_IOC_WRITE, KVMIO, 0x90, 8)
#define KVMXEN_KVM_GET_SUPPORTED_HV_CPUID _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0xc1, 8)
// kvm_xsave ends in a flexible array too (extra[], for KVM_GET_XSAVE2): the legacy requests carry 4096.
#define KVMXEN_KVM_GET_XSAVE _IOC(_IOC_READ, KVMIO, 0xa4, 4096)
#define KVMXEN_KVM_SET_XSAVE _IOC(_IOC_WRITE, KVMIO, 0xa5, 4096)
