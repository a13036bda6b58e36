/*
 * The foundation tests' guest: one scenario per run, chosen by the host through `scenario` before the
 * first run. Each scenario exercises one thing the host must see: ucalls, port and memory-mapped I/O,
 * HLT, exceptions, assertions, interrupts through the LAPIC, and a guest that never stops.
 */
#include "guest.h"

enum scenario {
  SCENARIO_SYNC = 1,
  SCENARIO_PIO = 2,
  SCENARIO_MMIO = 3,
  SCENARIO_HLT = 4,
  SCENARIO_EXCEPTION = 5,
  SCENARIO_ASSERT = 6,
  SCENARIO_IRQ = 7,
  SCENARIO_SPIN = 8,
  SCENARIO_PAGE_FAULT = 9,
  SCENARIO_TRIPLE_FAULT = 10,
};

#define TEST_PORT 0xe0
#define MMIO_ADDRESS 0xd0000000ul
#define IRQ_VECTOR 0x40

volatile uint64_t scenario;
volatile uint64_t spins;
static volatile int irqs_seen;

__attribute__((interrupt)) static void irq_handler(struct interrupt_frame *frame) {
  (void)frame;
  irqs_seen++;
  xapic_eoi();
}

static void pio(void) {
  outb(TEST_PORT, 0x11);
  outw(TEST_PORT, 0x2233);
  outl(TEST_PORT, 0x44556677);
  uint8_t b = inb(TEST_PORT);
  uint16_t w = inw(TEST_PORT);
  uint32_t l = inl(TEST_PORT);
  GUEST_SYNC(b, w, l);
}

static void mmio(void) {
  volatile uint32_t *reg = (volatile uint32_t *)MMIO_ADDRESS;
  *reg = 0xcafef00d;
  uint32_t read = reg[1];
  GUEST_SYNC(read);
}

void guest_main(void) {
  switch (scenario) {
    case SCENARIO_SYNC:
      GUEST_SYNC(1);
      GUEST_SYNC(2, 0x1122334455667788ull, -1);
      break;
    case SCENARIO_PIO:
      pio();
      break;
    case SCENARIO_MMIO:
      mmio();
      break;
    case SCENARIO_HLT:
      hlt();
      GUEST_SYNC(4);
      break;
    case SCENARIO_EXCEPTION:
      __asm__ volatile("ud2");
      break;
    case SCENARIO_ASSERT:
      GUEST_ASSERT_EQ(scenario, 42);
      break;
    case SCENARIO_IRQ:
      set_interrupt_handler(IRQ_VECTOR, irq_handler);
      xapic_enable();
      sti_nop();
      GUEST_SYNC(IRQ_VECTOR);
      while (!irqs_seen) cpu_relax();
      GUEST_SYNC(irqs_seen);
      break;
    case SCENARIO_SPIN:
      for (;;) spins++;
    case SCENARIO_PAGE_FAULT: {
      /* Page 0 is never mapped; hide the constant from the compiler's bounds warnings. */
      uintptr_t address = 0x8;
      __asm__ volatile("" : "+r"(address));
      (void)*(volatile uint64_t *)address;
      break;
    }
    case SCENARIO_TRIPLE_FAULT: {
      /* An empty IDT: the #UD cannot be delivered (#GP), nor that (#DF), so the CPU shuts down. */
      struct __attribute__((packed)) { uint16_t limit; uint64_t base; } empty = {0, 0};
      __asm__ volatile("lidt %0; ud2" : : "m"(empty));
      break;
    }
    default:
      GUEST_FAIL("unknown scenario %lu", (unsigned long)scenario);
  }
}
