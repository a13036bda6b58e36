/*
 * Guest half of xen_shinfo_test (the port of tools/testing/selftests/kvm/x86/xen_shinfo_test.c).
 * It syncs with the host at each numbered stage (the host acts there; see selftests/xen_shinfo_test.ts)
 * and checks what it can see from inside: the runstate area, event-channel upcalls, its own hypercalls.
 * Stage numbers are those of the upstream test. The host's list (selftests/xen_shinfo/constants.ts) is
 * the same: test/shinfo-stages.test.ts reads this enum and fails when the two differ.
 */
#include "fep.h"
#include "guest.h"
#include "xen.h"

enum stage {
  TEST_INJECT_VECTOR = 0,
  TEST_RUNSTATE_runnable,
  TEST_RUNSTATE_blocked,
  TEST_RUNSTATE_offline,
  TEST_RUNSTATE_ADJUST,
  TEST_RUNSTATE_DATA,
  TEST_STEAL_TIME,
  TEST_EVTCHN_MASKED,
  TEST_EVTCHN_UNMASKED,
  TEST_EVTCHN_SLOWPATH,
  TEST_EVTCHN_SEND_IOCTL,
  TEST_EVTCHN_HCALL,
  TEST_EVTCHN_HCALL_SLOWPATH,
  TEST_EVTCHN_HCALL_EVENTFD,
  TEST_TIMER_SETUP,
  TEST_TIMER_WAIT,
  TEST_TIMER_RESTORE,
  TEST_POLL_READY,
  TEST_POLL_TIMEOUT,
  TEST_POLL_MASKED,
  TEST_POLL_WAKE,
  SET_VCPU_INFO,
  TEST_TIMER_PAST,
  TEST_LOCKING_SEND_RACE,
  TEST_LOCKING_POLL_RACE,
  TEST_LOCKING_POLL_TIMEOUT,
  TEST_DONE,
  TEST_GUEST_SAW_IRQ,
};

/* The test region, identity-mapped by the host at 3 GiB. */
#define SHINFO_VADDR 0xc0000000ul
#define VCPU_INFO_VADDR (SHINFO_VADDR + 0x40)
#define RUNSTATE_VADDR (SHINFO_VADDR + 0x2000 - 15)
#define EVTCHN_VECTOR 0x10
#define EVTCHN_TIMER 13
#define MIN_STEAL_TIME 50000
#define TIMER_DELTA_NS 100000000ull

enum { RUNSTATE_running, RUNSTATE_runnable, RUNSTATE_blocked, RUNSTATE_offline };

struct vcpu_runstate_info {
  uint32_t state;
  uint64_t state_entry_time;
  uint64_t time[4];
};

struct vcpu_info {
  uint8_t evtchn_upcall_pending;
  uint8_t evtchn_upcall_mask;
  uint64_t evtchn_pending_sel;
};

struct shared_info_bitmaps {
  uint64_t evtchn_pending[64];
};

static volatile int guest_saw_irq;

/* The upcall vector is injected by KVM while evtchn_upcall_pending is set; clearing it ends that (no EOI:
 * it does not come through the LAPIC). As upstream's vcpu_arch_put_guest() stores, the two stores go
 * through KVM's emulator at random when the host turned forced emulation on (fep.h). */
__attribute__((interrupt)) static void evtchn_handler(struct interrupt_frame *frame) {
  volatile struct vcpu_info *vi = (struct vcpu_info *)VCPU_INFO_VADDR;
  (void)frame;
  guest_put(vi->evtchn_upcall_pending, 0);
  guest_put(vi->evtchn_pending_sel, 0);
  guest_saw_irq = 1;
  GUEST_SYNC(TEST_GUEST_SAW_IRQ);
}

static void wait_for_irq(void) {
  while (!guest_saw_irq) cpu_relax();
  guest_saw_irq = 0;
}

static void send_event(uint32_t port) {
  struct evtchn_send send = {.port = port};
  xen_hypercall(HYPERVISOR_event_channel_op, EVTCHNOP_send, &send);
}

void guest_main(void) {
  volatile struct vcpu_runstate_info *rs = (struct vcpu_runstate_info *)RUNSTATE_VADDR;
  volatile struct shared_info_bitmaps *bitmaps = (struct shared_info_bitmaps *)(SHINFO_VADDR + 0x800);

  set_interrupt_handler(EVTCHN_VECTOR, evtchn_handler);
  sti_nop();

  /* The host sets evtchn_upcall_pending: KVM must inject the vector. */
  GUEST_SYNC(TEST_INJECT_VECTOR);
  wait_for_irq();

  /* The host sets runstates by hand; each time we run again, we are "running" and the old one counted. */
  GUEST_SYNC(TEST_RUNSTATE_runnable);
  GUEST_ASSERT(rs->time[RUNSTATE_runnable] != 0);
  GUEST_ASSERT(rs->state == 0);

  GUEST_SYNC(TEST_RUNSTATE_blocked);
  GUEST_ASSERT(rs->time[RUNSTATE_blocked] != 0);
  GUEST_ASSERT(rs->state == 0);

  GUEST_SYNC(TEST_RUNSTATE_offline);
  GUEST_ASSERT(rs->time[RUNSTATE_offline] != 0);
  GUEST_ASSERT(rs->state == 0);

  GUEST_SYNC(TEST_RUNSTATE_ADJUST);
  GUEST_ASSERT(rs->time[RUNSTATE_blocked] == 0x5a);
  GUEST_ASSERT(rs->time[RUNSTATE_offline] == 0x6b6b);

  GUEST_SYNC(TEST_RUNSTATE_DATA);
  GUEST_ASSERT(rs->state_entry_time >= 0x8000);
  GUEST_ASSERT(rs->time[RUNSTATE_runnable] == 0);
  GUEST_ASSERT(rs->time[RUNSTATE_blocked] == 0x6b6b);
  GUEST_ASSERT(rs->time[RUNSTATE_offline] == 0x5a);

  /* The host yields on our thread: its run delay must show up as runnable (stolen) time. */
  GUEST_SYNC(TEST_STEAL_TIME);
  GUEST_ASSERT(rs->time[RUNSTATE_runnable] >= MIN_STEAL_TIME);

  /* A masked port: the pending bit appears, but no upcall. */
  GUEST_SYNC(TEST_EVTCHN_MASKED);
  while (!bitmaps->evtchn_pending[0]) cpu_relax();

  GUEST_SYNC(TEST_EVTCHN_UNMASKED);
  wait_for_irq();

  GUEST_SYNC(TEST_EVTCHN_SLOWPATH);
  wait_for_irq();

  GUEST_SYNC(TEST_EVTCHN_SEND_IOCTL);
  wait_for_irq();

  /* Our own EVTCHNOP_send on port 127, which KVM loops back to port 15. */
  GUEST_SYNC(TEST_EVTCHN_HCALL);
  send_event(127);
  wait_for_irq();

  /* Again, after the host changed the memslots (KVM's slow path). */
  GUEST_SYNC(TEST_EVTCHN_HCALL_SLOWPATH);
  send_event(127);
  wait_for_irq();

  /* Port 197 goes to an eventfd, which is also the irqfd of port 66. */
  GUEST_SYNC(TEST_EVTCHN_HCALL_EVENTFD);
  send_event(197);
  wait_for_irq();

  /* A single-shot timer 100 ms ahead; state_entry_time serves as "Xen system time now". */
  GUEST_SYNC(TEST_TIMER_SETUP);
  xen_hypercall(HYPERVISOR_set_timer_op, rs->state_entry_time + TIMER_DELTA_NS, (void *)0);

  GUEST_SYNC(TEST_TIMER_WAIT);
  wait_for_irq();

  /* The host restored the timer as after a migration. */
  GUEST_SYNC(TEST_TIMER_RESTORE);
  wait_for_irq();

  uint32_t ports[1] = {EVTCHN_TIMER};
  struct sched_poll poll = {.ports = ports, .nr_ports = 1, .timeout = 0};

  /* The port is already pending: the poll returns at once. */
  GUEST_SYNC(TEST_POLL_READY);
  xen_hypercall(HYPERVISOR_sched_op, SCHEDOP_poll, &poll);

  /* Nothing pending: the poll returns after its 100 ms timeout. */
  GUEST_SYNC(TEST_POLL_TIMEOUT);
  poll.timeout = TIMER_DELTA_NS;
  xen_hypercall(HYPERVISOR_sched_op, SCHEDOP_poll, &poll);

  /* A timer fires on the masked port we poll: no upcall, but the poll wakes. */
  GUEST_SYNC(TEST_POLL_MASKED);
  poll.timeout = 0;
  xen_hypercall(HYPERVISOR_sched_op, SCHEDOP_poll, &poll);

  GUEST_SYNC(TEST_POLL_WAKE);

  /* The host re-points vcpu_info at the same place by HVA. */
  GUEST_SYNC(SET_VCPU_INFO);

  /* Poll another port: the timer's unmasked event wakes us with a real upcall. */
  ports[0]++;
  poll.timeout = 0;
  xen_hypercall(HYPERVISOR_sched_op, SCHEDOP_poll, &poll);
  wait_for_irq();

  /* A timer set in the past fires at once. */
  GUEST_SYNC(TEST_TIMER_PAST);
  wait_for_irq();

  /* The host sends events while another host thread toggles shared_info. */
  GUEST_SYNC(TEST_LOCKING_SEND_RACE);
  wait_for_irq();

  /* Now we poll while that thread goes on. KVM drops a timer event that expires while shared_info is
   * invalid, so after 100 polls without an upcall we ask the host to re-arm the timer. */
  GUEST_SYNC(TEST_LOCKING_POLL_RACE);
  ports[0] = 0;
  poll.nr_ports = 1;
  poll.timeout = 0;
  for (;;) {
    for (int i = 0; i < 100 && !guest_saw_irq; i++) raw_xen_hypercall(HYPERVISOR_sched_op, SCHEDOP_poll, &poll);
    if (guest_saw_irq) break;
    GUEST_SYNC(TEST_LOCKING_POLL_TIMEOUT);
  }
  guest_saw_irq = 0;

  GUEST_SYNC(TEST_DONE);
}
