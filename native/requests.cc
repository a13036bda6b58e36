#include "requests.h"


#include "fd_handle.h"
#include "kvm_abi.h"

namespace kvmxen {

namespace {
constexpr unsigned kSys = kKindSystem;
constexpr unsigned kVm = kKindVm;
constexpr unsigned kVcpu = kKindVcpu;
}  // namespace

#define REQ(name, kinds, shape) {#name, name, kinds, ArgShape::shape, 0, 0, Special::kNone}
#define REQ_FLEX(name, kinds, entry) {#name, KVMXEN_##name, kinds, ArgShape::kFlexArray, sizeof(entry), 0, Special::kNone}
// A fixed-size struct whose C++ size differs from C's (a trailing flexible array): number from kvm_abi.h.
#define REQ_C_SIZED(name, kinds) {#name, KVMXEN_##name, kinds, ArgShape::kStruct, 0, 0, Special::kNone}
#define REQ_CREATE(name, kinds, created) {#name, name, kinds, ArgShape::kValue, 0, created, Special::kNone}
#define REQ_SPECIAL(name, kinds, special) {#name, name, kinds, ArgShape::kStruct, 0, 0, Special::special}

const RequestSpec kRequests[] = {
    // system fd
    REQ(KVM_GET_API_VERSION, kSys, kNone),
    REQ_CREATE(KVM_CREATE_VM, kSys, kKindVm),
    REQ(KVM_CHECK_EXTENSION, kSys | kVm, kValue),
    REQ(KVM_GET_VCPU_MMAP_SIZE, kSys, kNone),
    REQ_FLEX(KVM_GET_SUPPORTED_CPUID, kSys, struct kvm_cpuid_entry2),
    REQ_FLEX(KVM_GET_MSR_INDEX_LIST, kSys, __u32),
    REQ_FLEX(KVM_GET_SUPPORTED_HV_CPUID, kSys | kVcpu, struct kvm_cpuid_entry2),
    // VM fd
    REQ_CREATE(KVM_CREATE_VCPU, kVm, kKindVcpu),
    REQ_SPECIAL(KVM_SET_USER_MEMORY_REGION, kVm, kMemoryRegion),
    REQ(KVM_CREATE_IRQCHIP, kVm, kNone),
    REQ_FLEX(KVM_SET_GSI_ROUTING, kVm, struct kvm_irq_routing_entry),
    REQ(KVM_IRQFD, kVm, kStruct),
    REQ(KVM_SIGNAL_MSI, kVm, kStruct),
    REQ(KVM_GET_CLOCK, kVm, kStruct),
    REQ(KVM_SET_CLOCK, kVm, kStruct),
    REQ(KVM_ENABLE_CAP, kVm, kStruct),
    REQ(KVM_XEN_HVM_CONFIG, kVm, kStruct),
    REQ(KVM_XEN_HVM_GET_ATTR, kVm, kStruct),
    REQ_SPECIAL(KVM_XEN_HVM_SET_ATTR, kVm, kXenHvmAttr),
    REQ(KVM_XEN_HVM_EVTCHN_SEND, kVm, kStruct),
    // VM fd: the platform a booted kernel expects (lib/vmm), and its state for snapshots
    REQ(KVM_SET_TSS_ADDR, kVm, kValue),
    REQ(KVM_SET_IDENTITY_MAP_ADDR, kVm, kStruct),
    REQ(KVM_IRQ_LINE, kVm, kStruct),
    REQ(KVM_CREATE_PIT2, kVm, kStruct),
    REQ(KVM_GET_IRQCHIP, kVm, kStruct),
    REQ(KVM_SET_IRQCHIP, kVm, kStruct),
    REQ(KVM_GET_PIT2, kVm, kStruct),
    REQ(KVM_SET_PIT2, kVm, kStruct),
    // VM fd: live migration's pre-copy (lib/vmm/migrate)
    REQ_SPECIAL(KVM_GET_DIRTY_LOG, kVm, kDirtyLog),
    // vCPU fd
    REQ(KVM_RUN, kVcpu, kNone),
    REQ(KVM_GET_REGS, kVcpu, kStruct),
    REQ(KVM_SET_REGS, kVcpu, kStruct),
    REQ(KVM_GET_SREGS, kVcpu, kStruct),
    REQ(KVM_SET_SREGS, kVcpu, kStruct),
    REQ_FLEX(KVM_SET_CPUID2, kVcpu, struct kvm_cpuid_entry2),
    REQ_FLEX(KVM_GET_MSRS, kVcpu, struct kvm_msr_entry),
    REQ_FLEX(KVM_SET_MSRS, kVcpu, struct kvm_msr_entry),
    REQ(KVM_GET_LAPIC, kVcpu, kStruct),
    REQ(KVM_SET_LAPIC, kVcpu, kStruct),
    REQ(KVM_GET_VCPU_EVENTS, kVcpu, kStruct),
    REQ(KVM_SET_VCPU_EVENTS, kVcpu, kStruct),
    REQ(KVM_GET_MP_STATE, kVcpu, kStruct),
    REQ(KVM_SET_MP_STATE, kVcpu, kStruct),
    REQ(KVM_GET_TSC_KHZ, kVcpu, kNone),
    REQ(KVM_XEN_VCPU_GET_ATTR, kVcpu, kStruct),
    REQ_SPECIAL(KVM_XEN_VCPU_SET_ATTR, kVcpu, kXenVcpuAttr),
    REQ_C_SIZED(KVM_GET_XSAVE, kVcpu),
    REQ_C_SIZED(KVM_SET_XSAVE, kVcpu),
    REQ(KVM_GET_XCRS, kVcpu, kStruct),
    REQ(KVM_SET_XCRS, kVcpu, kStruct),
    REQ(KVM_GET_DEBUGREGS, kVcpu, kStruct),
    REQ(KVM_SET_DEBUGREGS, kVcpu, kStruct),
};

const size_t kRequestCount = sizeof(kRequests) / sizeof(kRequests[0]);

size_t RequestStructSize(const RequestSpec& spec) { return _IOC_SIZE(spec.number); }

// Every number checked against the kernel's C ABI (values from a C build of the uAPI headers).
static_assert(KVMXEN_KVM_GET_SUPPORTED_CPUID == 0xC008AE05, "KVM_GET_SUPPORTED_CPUID");
static_assert(KVMXEN_KVM_GET_MSR_INDEX_LIST == 0xC004AE02, "KVM_GET_MSR_INDEX_LIST");
static_assert(KVMXEN_KVM_SET_GSI_ROUTING == 0x4008AE6A, "KVM_SET_GSI_ROUTING");
static_assert(KVMXEN_KVM_SET_CPUID2 == 0x4008AE90, "KVM_SET_CPUID2");
static_assert(KVMXEN_KVM_GET_SUPPORTED_HV_CPUID == 0xC008AEC1, "KVM_GET_SUPPORTED_HV_CPUID");
static_assert(KVMXEN_KVM_GET_MSRS == 0xC008AE88, "KVM_GET_MSRS");
static_assert(KVMXEN_KVM_SET_MSRS == 0x4008AE89, "KVM_SET_MSRS");
static_assert(KVM_SET_USER_MEMORY_REGION == 0x4020AE46, "KVM_SET_USER_MEMORY_REGION");
static_assert(KVM_IRQFD == 0x4020AE76, "KVM_IRQFD");
static_assert(KVM_XEN_HVM_CONFIG == 0x4038AE7A, "KVM_XEN_HVM_CONFIG");
static_assert(KVM_XEN_HVM_GET_ATTR == 0xC048AEC8, "KVM_XEN_HVM_GET_ATTR");
static_assert(KVM_XEN_HVM_SET_ATTR == 0x4048AEC9, "KVM_XEN_HVM_SET_ATTR");
static_assert(KVM_XEN_VCPU_GET_ATTR == 0xC048AECA, "KVM_XEN_VCPU_GET_ATTR");
static_assert(KVM_XEN_VCPU_SET_ATTR == 0x4048AECB, "KVM_XEN_VCPU_SET_ATTR");
static_assert(KVM_XEN_HVM_EVTCHN_SEND == 0x400CAED0, "KVM_XEN_HVM_EVTCHN_SEND");
static_assert(KVM_GET_CLOCK == 0x8030AE7C, "KVM_GET_CLOCK");
static_assert(KVM_SET_CLOCK == 0x4030AE7B, "KVM_SET_CLOCK");
static_assert(KVM_GET_REGS == 0x8090AE81, "KVM_GET_REGS");
static_assert(KVM_GET_SREGS == 0x8138AE83, "KVM_GET_SREGS");
static_assert(KVM_SET_TSS_ADDR == 0xAE47, "KVM_SET_TSS_ADDR");
static_assert(KVM_SET_IDENTITY_MAP_ADDR == 0x4008AE48, "KVM_SET_IDENTITY_MAP_ADDR");
static_assert(KVM_IRQ_LINE == 0x4008AE61, "KVM_IRQ_LINE");
static_assert(KVM_CREATE_PIT2 == 0x4040AE77, "KVM_CREATE_PIT2");
static_assert(KVM_GET_IRQCHIP == 0xC208AE62, "KVM_GET_IRQCHIP");
static_assert(KVM_SET_IRQCHIP == 0x8208AE63, "KVM_SET_IRQCHIP");
static_assert(KVM_GET_PIT2 == 0x8070AE9F, "KVM_GET_PIT2");
static_assert(KVM_SET_PIT2 == 0x4070AEA0, "KVM_SET_PIT2");
static_assert(KVMXEN_KVM_GET_XSAVE == 0x9000AEA4, "KVM_GET_XSAVE");
static_assert(KVMXEN_KVM_SET_XSAVE == 0x5000AEA5, "KVM_SET_XSAVE");
static_assert(KVM_GET_XCRS == 0x8188AEA6, "KVM_GET_XCRS");
static_assert(KVM_SET_XCRS == 0x4188AEA7, "KVM_SET_XCRS");
static_assert(KVM_GET_DIRTY_LOG == 0x4010AE42, "KVM_GET_DIRTY_LOG");
static_assert(KVM_GET_DEBUGREGS == 0x8080AEA1, "KVM_GET_DEBUGREGS");
static_assert(KVM_SET_DEBUGREGS == 0x4080AEA2, "KVM_SET_DEBUGREGS");

}  // namespace kvmxen
