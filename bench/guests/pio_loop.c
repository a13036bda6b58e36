/* The benchmark's guest: `iterations` OUTs to BENCH_PORT, then done. The same ELF runs under the C host
 * (bench/pio_host.c) and under the library, so both measure the same exits. */
#include "guest.h"

#define BENCH_PORT 0x10

volatile uint64_t iterations = 100000;

void guest_main(void) {
  for (uint64_t i = 0; i < iterations; i++) outb(BENCH_PORT, (uint8_t)i);
}
