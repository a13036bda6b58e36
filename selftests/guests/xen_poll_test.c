/*
 * Guest half of xen_poll_test: SCHEDOP_poll on one port, first with nothing pending and a timeout (KVM
 * must block the vCPU until it passes), then with the port pending and a long timeout (KVM must return
 * at once). The host times each poll between the syncs around it.
 */
#include "guest.h"
#include "xen.h"

enum { SYNC_QUIET_POLL = 1, SYNC_PENDING_POLL = 2, SYNC_POLLED = 3 };

/* Filled in by the host before the guest runs. */
volatile uint32_t poll_port;
volatile uint64_t quiet_timeout_ns;
volatile uint64_t pending_timeout_ns;

static void poll_once(uint64_t timeout_ns) {
  uint32_t port = poll_port;
  struct sched_poll poll = {.ports = &port, .nr_ports = 1, .timeout = timeout_ns};
  xen_hypercall(HYPERVISOR_sched_op, SCHEDOP_poll, &poll);
}

void guest_main(void) {
  GUEST_SYNC(SYNC_QUIET_POLL);
  poll_once(quiet_timeout_ns);
  GUEST_SYNC(SYNC_POLLED);

  /* The host has made the port pending (and masked) meanwhile. */
  GUEST_SYNC(SYNC_PENDING_POLL);
  poll_once(pending_timeout_ns);
  GUEST_SYNC(SYNC_POLLED);
}
