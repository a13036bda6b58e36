/*
 * KVM's forced emulation prefix. With the kvm module's force_emulation_prefix parameter set, an
 * instruction written after KVM_FEP (a UD2 followed by the bytes "kvm") is not run by the CPU: KVM
 * catches the #UD, skips the prefix and runs the instruction through its own x86 emulator. Stores done
 * that way reach guest memory by KVM's emulated path, the one a real guest hits on MMIO or on a page
 * KVM write-protects. With the parameter off the prefix is an ordinary #UD, so a guest uses it only
 * when the host says the parameter is on (guest_fep_enabled, which the host writes before the first
 * KVM_RUN: lib/guest/forced-emulation.ts).
 */
#pragma once
#include <stdint.h>

#include "x86.h"

#define KVM_FEP "ud2; .byte 'k', 'v', 'm';"

/* Written by the host: non-zero when KVM's force_emulation_prefix is on. */
extern volatile uint8_t guest_fep_enabled;
/* Stores made through guest_put(), and how many of them went through KVM's emulator. */
extern volatile uint64_t guest_put_count;
extern volatile uint64_t guest_put_emulated;

/* A pseudo-random number from the state the host seeded (guest_random_state). */
uint32_t guest_random_u32(void);

/*
 * mem = value, done one of three ways when forced emulation is on, chosen at random: half the time a
 * plain store, a quarter an emulated MOV, a quarter an emulated LOCK CMPXCHG (which, like upstream's,
 * leaves mem alone if something else changed it between the read and the exchange). With forced
 * emulation off it is always the plain store. `mem` is an lvalue of 1, 2, 4 or 8 bytes.
 */
#define guest_put(mem, value)                                                                     \
  do {                                                                                            \
    __typeof__(mem) put_value_ = (value);                                                         \
    uint32_t put_way_ = guest_fep_enabled ? guest_random_u32() % 4 : 0;                           \
    guest_put_count++;                                                                            \
    if (put_way_ < 2) {                                                                           \
      (mem) = put_value_;                                                                         \
    } else if (put_way_ == 2) {                                                                   \
      __asm__ volatile(KVM_FEP "mov %1, %0" : "+m"(mem) : "r"(put_value_) : "memory");            \
      guest_put_emulated++;                                                                       \
    } else {                                                                                      \
      __typeof__(mem) put_expected_ = READ_ONCE(mem);                                             \
      __asm__ volatile(KVM_FEP "lock cmpxchg %2, %0"                                              \
                       : "+m"(mem), "+a"(put_expected_)                                           \
                       : "r"(put_value_)                                                          \
                       : "memory", "cc");                                                         \
      guest_put_emulated++;                                                                       \
    }                                                                                             \
  } while (0)
