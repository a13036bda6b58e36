/*
 * Xen hypercalls from a guest of KVM's Xen emulation (no hypercall page: KVM intercepts the
 * instruction itself with KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL). Long-mode convention: RAX = number,
 * arguments in RDI, RSI, ...; the result comes back in RAX. Intel uses VMCALL, AMD VMMCALL: the guest
 * asks CPUID which one its CPU has.
 */
#pragma once
#include "guest.h"

static inline int cpu_is_amd(void) {
  static int vendor; /* 0 unknown, 1 Intel-like, 2 AMD-like */
  if (!vendor) {
    uint32_t a, b, c, d;
    cpuid(0, 0, &a, &b, &c, &d);
    /* "AuthenticAMD" and "HygonGenuine" both use VMMCALL. */
    vendor = (b == 0x68747541 /* "Auth" */ || b == 0x6f677948 /* "Hygo" */) ? 2 : 1;
  }
  return vendor == 2;
}

/* Any result, unchecked. */
static inline uint64_t raw_xen_hypercall(uint64_t nr, uint64_t arg0, void *arg1) {
  uint64_t result;
  if (cpu_is_amd())
    __asm__ volatile("vmmcall" : "=a"(result) : "a"(nr), "D"(arg0), "S"(arg1) : "memory");
  else
    __asm__ volatile("vmcall" : "=a"(result) : "a"(nr), "D"(arg0), "S"(arg1) : "memory");
  return result;
}

/* A hypercall that must succeed. */
#define xen_hypercall(nr, arg0, arg1)                                                          \
  do {                                                                                         \
    uint64_t result_ = raw_xen_hypercall((nr), (uint64_t)(arg0), (arg1));                      \
    GUEST_ASSERT_MSG(result_ == 0, "hypercall %d failed: %ld", (int)(nr), (long)result_);     \
  } while (0)

#define HYPERVISOR_set_timer_op 15
#define HYPERVISOR_sched_op 29
#define HYPERVISOR_event_channel_op 32
#define SCHEDOP_poll 3
#define EVTCHNOP_send 4

struct evtchn_send {
  uint32_t port;
};

struct sched_poll {
  uint32_t *ports;
  uint32_t nr_ports;
  uint64_t timeout;
};
