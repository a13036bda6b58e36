/*
 * Guest half of xen_evtchn_setup_test and xen_migration_test: after READY it only waits, interrupts
 * enabled, and reports every event-channel upcall it takes with what it saw: evtchn_pending_sel and
 * the lowest pending, unmasked port. The host decides what each upcall means.
 */
#include "guest.h"

enum { SYNC_READY = 1, SYNC_SAW_IRQ = 2 };

#define SHINFO_VADDR 0xc0000000ul
#define VCPU_INFO_VADDR (SHINFO_VADDR + 0x40)
#define EVTCHN_VECTOR 0x10
#define WORDS 64

struct vcpu_info {
  uint8_t evtchn_upcall_pending;
  uint8_t evtchn_upcall_mask;
  uint64_t evtchn_pending_sel;
};

struct evtchn_bitmaps {
  uint64_t pending[WORDS];
  uint64_t mask[WORDS];
};

/* Like a Xen guest's upcall handler: take the selector, then look at the words it names. */
__attribute__((interrupt)) static void evtchn_handler(struct interrupt_frame *frame) {
  volatile struct vcpu_info *vi = (struct vcpu_info *)VCPU_INFO_VADDR;
  volatile struct evtchn_bitmaps *bits = (struct evtchn_bitmaps *)(SHINFO_VADDR + 0x800);
  (void)frame;
  vi->evtchn_upcall_pending = 0;
  uint64_t sel = __atomic_exchange_n(&vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
  int64_t port = -1;
  for (int word = 0; word < WORDS && port < 0; word++) {
    if (!(sel & (1ull << word))) continue;
    uint64_t ready = bits->pending[word] & ~bits->mask[word];
    if (ready) port = word * 64 + __builtin_ctzll(ready);
  }
  GUEST_SYNC(SYNC_SAW_IRQ, sel, port);
}

void guest_main(void) {
  set_interrupt_handler(EVTCHN_VECTOR, evtchn_handler);
  sti_nop();
  GUEST_SYNC(SYNC_READY);
  for (;;) cpu_relax();
}
