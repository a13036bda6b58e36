/* Everything a guest program includes: ucalls and assertions, x86 helpers, interrupts, formatting. */
#pragma once
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "ucall.h"
#include "x86.h"

/* The program's entry point, called by _start with interrupts disabled; returning sends GUEST_DONE. */
void guest_main(void);

/* An interrupt handler: void handler(struct interrupt_frame *frame). Build with -mgeneral-regs-only. */
struct interrupt_frame {
  uint64_t rip, cs, rflags, rsp, ss;
};
typedef void (*interrupt_handler)(struct interrupt_frame *);
/* Installs `handler` for `vector` in the IDT the host built (guest_idt). */
void set_interrupt_handler(uint8_t vector, interrupt_handler handler);

/* The in-kernel LAPIC through its xAPIC page at 0xFEE00000 (the host maps it when asked). */
void xapic_enable(void);
void xapic_eoi(void);

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
