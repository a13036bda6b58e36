/*
 * An LD_PRELOAD shim for the stage-23 race-rate benchmark (bench/shinfo.ts): counts the
 * ioctl(KVM_XEN_HVM_EVTCHN_SEND) calls of the kernel's C xen_shinfo_test, which has no counter of its
 * own, so its racing loop's rate can be set against the port's (which counts its native loop).
 *
 * The C test sends single events in earlier stages and then, in TEST_LOCKING_SEND_RACE, sends in a
 * loop for SHINFO_RACE_TIMEOUT seconds: the longest burst (calls less than BURST_GAP_NS apart) is that
 * loop. Each call costs the shim one vDSO clock_gettime before and after the real ioctl — some 0.1 µs
 * against the 100+ µs a send takes in the nested guest, so the C loop is not slowed measurably.
 *
 * With EVTCHN_SEND_COUNT=FILE, the process writes "<sends in the longest burst> <its ns, first call's
 * start to last call's end>" to FILE when it exits. It also makes stdout line-buffered (as on a
 * terminal), so that the harness can time each stage by its -v line as it comes.
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
  /* Only the main thread sends: no locking needed. */
  if (burst_calls == 0 || start - burst_end > BURST_GAP_NS) {
    keep_burst();
    burst_calls = 0;
    burst_start = start;
  }
  burst_calls++;
  burst_end = end;
  return result;
}

__attribute__((constructor)) static void line_buffered(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
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
