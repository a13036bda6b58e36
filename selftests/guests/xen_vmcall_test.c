/*
 * Guest half of xen_vmcall_test (the port of tools/testing/selftests/kvm/x86/xen_vmcall_test.c):
 * hypercalls that KVM does not handle itself come out to the host as KVM_EXIT_XEN, and the host's
 * answer comes back in RAX. Three ways in: VMCALL directly, the hypercall page KVM writes for the Xen
 * MSR, and (for contrast) a Hyper-V hypercall page that KVM answers itself.
 */
#include "guest.h"

#define HCALL_REGION_GPA 0xc0000000ul
#define INPUTVALUE 17
#define ARGVALUE(x) (0xdeadbeef5a5a0000ul + (x))
#define RETVALUE 0xcafef00dfbfbfffful

#define XEN_HYPERCALL_MSR 0x40000200
#define HV_GUEST_OS_ID_MSR 0x40000000
#define HV_HYPERCALL_MSR 0x40000001
#define HVCALL_SIGNAL_EVENT 0x005d
#define HV_STATUS_INVALID_ALIGNMENT 4

enum { STEP_VMCALL = 1, STEP_XEN_PAGE = 2, STEP_HYPERV_PAGE = 3 };

/*
 * The six hypercall arguments in RDI, RSI, RDX, R10, R8, R9 and the number in RAX, through `vmcall` or
 * `call *target`. The register variables live only in this function: GCC guarantees their registers
 * only at the asm statement, so they must not span a call (GUEST_SYNC clobbers R8-R10).
 */
static uint64_t hypercall_with_test_args(uint64_t target) {
  uint64_t rax = INPUTVALUE;
  register uint64_t r10 __asm__("r10") = ARGVALUE(4);
  register uint64_t r8 __asm__("r8") = ARGVALUE(5);
  register uint64_t r9 __asm__("r9") = ARGVALUE(6);
  if (!target) {
    __asm__ volatile("vmcall"
                     : "+a"(rax)
                     : "D"(ARGVALUE(1)), "S"(ARGVALUE(2)), "d"(ARGVALUE(3)), "r"(r10), "r"(r8), "r"(r9)
                     : "memory");
  } else {
    __asm__ volatile("call *%1"
                     : "+a"(rax)
                     : "r"(target), "D"(ARGVALUE(1)), "S"(ARGVALUE(2)), "d"(ARGVALUE(3)), "r"(r10), "r"(r8), "r"(r9)
                     : "memory");
  }
  return rax;
}

/*
 * Hyper-V's HvSignalEvent through its hypercall page: the code in RCX, a badly aligned input GPA in RDX
 * and, as upstream passes it, ARGVALUE(5) in R8 (the output GPA of a slow call). RAX is 0 going in.
 */
static uint64_t hyperv_signal_event_badly_aligned(void) {
  uint64_t rax = 0;
  register uint64_t r8 __asm__("r8") = ARGVALUE(5);
  __asm__ volatile("call *%1"
                   : "+a"(rax)
                   : "r"(HCALL_REGION_GPA + 0x1000), "c"((uint64_t)HVCALL_SIGNAL_EVENT), "d"(0x5a5a5a5aul), "r"(r8)
                   : "memory");
  return rax;
}

void guest_main(void) {
  /* VMCALL itself (KVM handles the other vendor's instruction too). */
  GUEST_ASSERT(hypercall_with_test_args(0) == RETVALUE);
  GUEST_SYNC(STEP_VMCALL);

  /* Ask KVM for the Xen hypercall page, and set up Hyper-V's (guest OS id first). */
  wrmsr(XEN_HYPERCALL_MSR, HCALL_REGION_GPA);
  wrmsr(HV_GUEST_OS_ID_MSR, 0x5a);
  wrmsr(HV_HYPERCALL_MSR, HCALL_REGION_GPA + 0x1000 + 1);

  /* Hypercall INPUTVALUE through its 32-byte slot in the Xen page. */
  GUEST_ASSERT(hypercall_with_test_args(HCALL_REGION_GPA + INPUTVALUE * 32) == RETVALUE);
  GUEST_SYNC(STEP_XEN_PAGE);

  /* A Hyper-V hypercall with a badly aligned input GPA: KVM answers it without the host. */
  GUEST_ASSERT(hyperv_signal_event_badly_aligned() == HV_STATUS_INVALID_ALIGNMENT);
  GUEST_SYNC(STEP_HYPERV_PAGE);
}
