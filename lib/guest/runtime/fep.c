/* The state behind guest_put() (fep.h): what the host tells the guest, what the guest counts. */
#include "fep.h"

volatile uint8_t guest_fep_enabled;
volatile uint64_t guest_put_count;
volatile uint64_t guest_put_emulated;
/* xorshift64: never zero, so the host writes a non-zero seed (zero is replaced by a fixed one). */
uint64_t guest_random_state;

uint32_t guest_random_u32(void) {
  uint64_t x = guest_random_state ? guest_random_state : 0x9e3779b97f4a7c15ull;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  guest_random_state = x;
  return (uint32_t)(x >> 32);
}
