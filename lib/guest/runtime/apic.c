#include "guest.h"

#define XAPIC_BASE 0xfee00000ul
#define APIC_SPURIOUS 0xf0
#define APIC_EOI 0xb0
#define APIC_SOFTWARE_ENABLE (1u << 8)
#define SPURIOUS_VECTOR 0xff

static void xapic_write(uint32_t reg, uint32_t value) { *(volatile uint32_t *)(XAPIC_BASE + reg) = value; }

void xapic_enable(void) { xapic_write(APIC_SPURIOUS, APIC_SOFTWARE_ENABLE | SPURIOUS_VECTOR); }

void xapic_eoi(void) { xapic_write(APIC_EOI, 0); }
