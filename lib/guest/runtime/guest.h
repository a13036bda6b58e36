/*
 * The one header a guest program includes: ucalls and assertions (ucall.h), x86 helpers (x86.h),
 * interrupts, the xAPIC, formatting and the few string functions there are (no libc, no floating
 * point: the runtime is built with -ffreestanding -mgeneral-regs-only). The program runs in 64-bit long
 * mode, identity-mapped, loaded at 0x200000 (guest.ld), on a 64 KiB stack per vCPU; exceptions in
 * vectors 0-31 end the run with GuestExceptionError on the host. Build: kvm-xen guest build FILE.c.
 */
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
