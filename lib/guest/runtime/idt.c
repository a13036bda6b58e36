#include "guest.h"

/* 256 gates of 16 bytes; the host fills the exception gates and loads IDTR with this address. */
struct idt_gate {
  uint16_t offset_low;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attr;
  uint16_t offset_mid;
  uint32_t offset_high;
  uint32_t reserved;
} __attribute__((packed));

struct idt_gate guest_idt[256] __attribute__((aligned(4096)));

#define KERNEL_CS 0x8
#define INTERRUPT_GATE 0x8e /* present, DPL 0, 64-bit interrupt gate */

void set_interrupt_handler(uint8_t vector, interrupt_handler handler) {
  uint64_t address = (uint64_t)(uintptr_t)handler;
  struct idt_gate *gate = &guest_idt[vector];
  gate->offset_low = (uint16_t)address;
  gate->selector = KERNEL_CS;
  gate->ist = 0;
  gate->type_attr = INTERRUPT_GATE;
  gate->offset_mid = (uint16_t)(address >> 16);
  gate->offset_high = (uint32_t)(address >> 32);
  gate->reserved = 0;
}
