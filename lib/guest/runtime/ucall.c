#include "guest.h"

void ucall(uint64_t cmd, int nargs, ...) {
  /* On the stack, so an interrupt handler's ucall cannot clobber the one it interrupted. */
  struct ucall uc = {.cmd = cmd, .nargs = (uint64_t)nargs};
  va_list ap;
  va_start(ap, nargs);
  for (int i = 0; i < nargs && i < UCALL_MAX_ARGS; i++) uc.args[i] = va_arg(ap, uint64_t);
  va_end(ap);
  __asm__ volatile("outl %0, %1" : : "a"((uint32_t)(uintptr_t)&uc), "Nd"((uint16_t)UCALL_PORT) : "memory");
}

void guest_print(const char *fmt, ...) {
  char message[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof(message), fmt, ap);
  va_end(ap);
  ucall(UCALL_PRINT, 1, (uint64_t)(uintptr_t)message);
}

void guest_abort(const char *file, int line, const char *fmt, ...) {
  char message[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof(message), fmt, ap);
  va_end(ap);
  for (;;) ucall(UCALL_ABORT, 3, (uint64_t)(uintptr_t)file, (uint64_t)line, (uint64_t)(uintptr_t)message);
}

struct exception_frame {
  uint64_t vector, error_code, rip, cs, rflags, rsp, ss;
};

void guest_exception(struct exception_frame *frame) {
  for (;;) {
    ucall(UCALL_EXCEPTION, 6, frame->vector, frame->error_code, frame->rip, frame->cs, frame->rflags, read_cr2());
  }
}
