/*
 * The guest-to-host call protocol. The guest fills a struct ucall on its stack and executes
 * `outl %eax, $UCALL_PORT` with EAX = the struct's address (identity-mapped, below 4 GiB). The host
 * reads the struct from guest memory (lib/guest/ucall.ts) and resumes the guest when it is done.
 * Every field is 64 bits; strings are passed as guest addresses of NUL-terminated bytes.
 */
#pragma once
#include <stdint.h>

#define UCALL_PORT 0x1000
#define UCALL_MAX_ARGS 6

enum ucall_command {
  UCALL_NONE = 0,
  UCALL_SYNC = 1,      /* args: the values given to GUEST_SYNC */
  UCALL_ABORT = 2,     /* args: file, line, message */
  UCALL_DONE = 3,
  UCALL_PRINT = 4,     /* args: message */
  UCALL_EXCEPTION = 5, /* args: vector, error code, rip, cs, rflags, cr2 */
};

struct ucall {
  uint64_t cmd;
  uint64_t nargs;
  uint64_t args[UCALL_MAX_ARGS];
};

void ucall(uint64_t cmd, int nargs, ...);
void guest_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void guest_abort(const char *file, int line, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));

/* GUEST_SYNC(a, b, ...): up to six values, each widened to 64 bits, seen by the host as args[0..5]. */
#define UCALL_NARGS_(_1, _2, _3, _4, _5, _6, n, ...) n
#define UCALL_NARGS(...) UCALL_NARGS_(__VA_ARGS__, 6, 5, 4, 3, 2, 1, 0)
#define UCALL_ARGS_1(a) (uint64_t)(a)
#define UCALL_ARGS_2(a, ...) (uint64_t)(a), UCALL_ARGS_1(__VA_ARGS__)
#define UCALL_ARGS_3(a, ...) (uint64_t)(a), UCALL_ARGS_2(__VA_ARGS__)
#define UCALL_ARGS_4(a, ...) (uint64_t)(a), UCALL_ARGS_3(__VA_ARGS__)
#define UCALL_ARGS_5(a, ...) (uint64_t)(a), UCALL_ARGS_4(__VA_ARGS__)
#define UCALL_ARGS_6(a, ...) (uint64_t)(a), UCALL_ARGS_5(__VA_ARGS__)
#define UCALL_CAT_(a, b) a##b
#define UCALL_CAT(a, b) UCALL_CAT_(a, b)
#define GUEST_SYNC(...) \
  ucall(UCALL_SYNC, UCALL_NARGS(__VA_ARGS__), UCALL_CAT(UCALL_ARGS_, UCALL_NARGS(__VA_ARGS__))(__VA_ARGS__))
#define GUEST_DONE() ucall(UCALL_DONE, 0)
#define GUEST_PRINT(...) guest_print(__VA_ARGS__)

#define GUEST_FAIL(...) guest_abort(__FILE__, __LINE__, __VA_ARGS__)
#define GUEST_ASSERT(cond)                                          \
  do {                                                              \
    if (!(cond)) guest_abort(__FILE__, __LINE__, "%s", #cond);     \
  } while (0)
#define GUEST_ASSERT_MSG(cond, ...)                                 \
  do {                                                              \
    if (!(cond)) guest_abort(__FILE__, __LINE__, __VA_ARGS__);     \
  } while (0)
#define GUEST_ASSERT_EQ(a, b)                                                                     \
  do {                                                                                            \
    uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                              \
    if (a_ != b_) guest_abort(__FILE__, __LINE__, "%s == %s failed: 0x%llx != 0x%llx", #a, #b,   \
                              (unsigned long long)a_, (unsigned long long)b_);                    \
  } while (0)
