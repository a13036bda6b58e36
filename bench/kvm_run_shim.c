/*
 * An LD_PRELOAD shim around ioctl(KVM_RUN) for the exit-cost benchmark (bench/exit-cost.ts), loaded
 * alike into the C host (bench/pio_host.c) and into Node running the library. Two jobs:
 *
 * - Stub: KVM_RUN_SHIM_STUB_EXITS=N (read when a vCPU is created, so a process can change it between
 *   vCPUs): the vCPU's first N KVM_RUNs do not enter the kernel. Each returns at once with a prepared
 *   PIO exit written into the vCPU's real kvm_run mapping — OUT of one byte to port
 *   KVM_RUN_SHIM_STUB_PORT (default 0x10), its data in the PIO page where KVM puts it — so everything
 *   around KVM_RUN (the host's decode, the data offset, the hand-off to a vCPU thread) is the real
 *   path, and only the exit itself costs nothing. After N, KVM_RUN is the real one again (the guest
 *   then runs and finishes). A set immediate_exit is honoured as KVM does: -1, EINTR.
 *
 * - Timing: every KVM_RUN that does enter the kernel is timed. With KVM_RUN_SHIM_TIMING=FILE, each
 *   vCPU appends one line "<KVM_RUN calls> <ns inside them> <stubbed exits>" to FILE when its kvm_run
 *   is unmapped or the process ends — the host's own time per exit is its wall time minus that.
 *
 * vCPUs are recognised by KVM_CREATE_VCPU's result and their kvm_run by the mmap of that fd.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 4096

struct vcpu {
  int live;
  struct kvm_run *run;
  size_t run_size;
  uint64_t stub_left;
  uint64_t stubbed;
  uint64_t calls;
  uint64_t ns;
};

static struct vcpu vcpus[MAX_FDS];
static int (*real_ioctl)(int, unsigned long, ...);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);
static uint16_t stub_port = 0x10;
static uint64_t page_size = 4096;
/* One past the highest vCPU fd seen: munmap (frequent in Node) scans no further. */
static int fd_limit;

static void resolve(void) {
  if (real_ioctl) return;
  real_mmap = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
  real_munmap = (int (*)(void *, size_t))dlsym(RTLD_NEXT, "munmap");
  page_size = (uint64_t)sysconf(_SC_PAGESIZE);
  real_ioctl = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t env_number(const char *name, uint64_t fallback) {
  const char *value = getenv(name);
  return value && *value ? strtoull(value, NULL, 0) : fallback;
}

/* Appends the vCPU's totals to the timing file, once. */
static void report(struct vcpu *v) {
  const char *path = getenv("KVM_RUN_SHIM_TIMING");
  if (!v->live || !path || !*path) return;
  FILE *file = fopen(path, "a");
  if (file) {
    fprintf(file, "%llu %llu %llu\n", (unsigned long long)v->calls, (unsigned long long)v->ns, (unsigned long long)v->stubbed);
    fclose(file);
  }
  v->live = 0;
}

__attribute__((destructor)) static void report_all(void) {
  for (int fd = 0; fd < fd_limit; fd++) report(&vcpus[fd]);
}

static int stub_exit(struct vcpu *v) {
  struct kvm_run *run = v->run;
  if (run->immediate_exit) {
    errno = EINTR;
    return -1;
  }
  const uint64_t pio_offset = KVM_PIO_PAGE_OFFSET * page_size;
  run->exit_reason = KVM_EXIT_IO;
  run->io.direction = KVM_EXIT_IO_OUT;
  run->io.size = 1;
  run->io.port = stub_port;
  run->io.count = 1;
  run->io.data_offset = pio_offset;
  ((uint8_t *)run)[pio_offset] = (uint8_t)v->stubbed;
  v->stub_left--;
  v->stubbed++;
  return 0;
}

static void note_mapping(void *got, size_t length, int fd, off_t offset);

int ioctl(int fd, unsigned long request, ...) {
  resolve();
  va_list args;
  va_start(args, request);
  void *arg = va_arg(args, void *);
  va_end(args);
  struct vcpu *v = fd >= 0 && fd < MAX_FDS ? &vcpus[fd] : NULL;
  if (request == KVM_RUN && v && v->live) {
    if (v->stub_left && v->run) return stub_exit(v);
    uint64_t start = now_ns();
    int ret = real_ioctl(fd, request, arg);
    int saved = errno;
    v->ns += now_ns() - start;
    v->calls++;
    errno = saved;
    return ret;
  }
  int ret = real_ioctl(fd, request, arg);
  if (request == KVM_CREATE_VCPU && ret >= 0 && ret < MAX_FDS) {
    struct vcpu *created = &vcpus[ret];
    report(created); /* a previous vCPU under the same fd number that was never unmapped */
    *created = (struct vcpu){.live = 1, .stub_left = env_number("KVM_RUN_SHIM_STUB_EXITS", 0)};
    stub_port = (uint16_t)env_number("KVM_RUN_SHIM_STUB_PORT", 0x10);
    if (ret >= fd_limit) fd_limit = ret + 1;
  }
  return ret;
}

void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset) {
  resolve();
  void *got = real_mmap(addr, length, prot, flags, fd, offset);
  note_mapping(got, length, fd, offset);
  return got;
}

/* What code built with _FILE_OFFSET_BITS=64 calls (the addon, as node-gyp builds it). */
void *mmap64(void *addr, size_t length, int prot, int flags, int fd, off_t offset) {
  return mmap(addr, length, prot, flags, fd, offset);
}

static void note_mapping(void *got, size_t length, int fd, off_t offset) {
  if (got != MAP_FAILED && fd >= 0 && fd < MAX_FDS && vcpus[fd].live && offset == 0) {
    vcpus[fd].run = got;
    vcpus[fd].run_size = length;
  }
}

int munmap(void *addr, size_t length) {
  resolve();
  for (int fd = 0; fd < fd_limit; fd++) {
    if (vcpus[fd].live && vcpus[fd].run == addr) {
      vcpus[fd].run = NULL;
      report(&vcpus[fd]);
    }
  }
  return real_munmap(addr, length);
}
