/*
 * An LD_PRELOAD shim for the stage-23 race-rate benchmark (bench/shinfo.ts): counts the
 * ioctl(KVM_XEN_HVM_EVTCHN_SEND) calls of a process, preloaded alike into the kernel's C
 * xen_shinfo_test (which has no counter of its own) and into Node running the port (whose racing loop
 * is the addon's native IoctlLoop thread, calling libc's ioctl as C does).
 *
 * Both send single events in earlier stages and then, in TEST_LOCKING_SEND_RACE, send in a loop for
 * SHINFO_RACE_TIMEOUT seconds from one thread: the longest burst (calls less than BURST_GAP_NS apart)
 * is that loop. Each send costs the shim two vDSO clock_gettime calls — some 0.1 µs against the 100+
 * µs a send takes in the nested guest, on both sides alike; every other ioctl one comparison.
 *
 * With EVTCHN_SEND_COUNT=FILE, the process writes "<sends in the longest burst> <its ns, first call's
 * start to last call's end>" to FILE when it exits.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BURST_GAP_NS 50000000ull

static int (*real_ioctl)(int, unsigned long, ...);
static uint64_t burst_calls, burst_start, burst_end;
static uint64_t best_calls, best_ns;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void keep_burst(void) {
  if (burst_calls > best_calls) {
    best_calls = burst_calls;
    best_ns = burst_end - burst_start;
  }
}

int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  if (!real_ioctl) real_ioctl = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
  if (request != KVM_XEN_HVM_EVTCHN_SEND) return real_ioctl(fd, request, arg);
  uint64_t start = now_ns();
  int result = real_ioctl(fd, request, arg);
  uint64_t end = now_ns();
  /* One thread at a time sends (the race loop, or earlier the main thread): no locking needed. */
  if (burst_calls == 0 || start - burst_end > BURST_GAP_NS) {
    keep_burst();
    burst_calls = 0;
    burst_start = start;
  }
  burst_calls++;
  burst_end = end;
  return result;
}

__attribute__((destructor)) static void report(void) {
  const char *file = getenv("EVTCHN_SEND_COUNT");
  if (!file) return;
  keep_burst();
  FILE *out = fopen(file, "w");
  if (!out) return;
  fprintf(out, "%llu %llu\n", (unsigned long long)best_calls, (unsigned long long)best_ns);
  fclose(out);
}
