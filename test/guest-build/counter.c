/* A user's own guest program, outside the project's guests: counts with the host, asserts, prints. */
#include "guest.h"

#ifndef STEPS
#define STEPS 3
#endif

static volatile uint64_t total;

void guest_main(void) {
  for (uint64_t step = 1; step <= STEPS; step++) {
    total += step;
    GUEST_SYNC(step, total);
  }
  GUEST_ASSERT_EQ(total, (uint64_t)STEPS * (STEPS + 1) / 2);
  GUEST_PRINT("total %d", (int)total);
}
