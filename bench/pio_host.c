/*
 * The C baseline of the exit benchmark: a minimal VMM that loads build/guest/pio_loop.elf into a
 * long-mode VM (identity map with 2 MiB pages, flat segments) and runs it until it is done, counting the
 * PIO exits on the benchmark port. Prints "<exits> <seconds> <CPU seconds of the process>" for
 * bench/exits.ts to compare with the library running the same ELF.
 *
 * `thread` mode hands each KVM_RUN to a second thread and spins for its result, as the library's
 * runAsync() does (native/vcpu_runner.cc): the C price of the hand-off between two cores, for
 * bench/exit-cost.ts.
 *
 * usage: pio_host <pio_loop.elf> <iterations> [direct|thread]
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (16ul << 20)
#define PML4 0x10000ul
#define PDPT 0x11000ul
#define PD 0x12000ul
#define STACK_TOP (MEM_SIZE - 8)
#define BENCH_PORT 0x10
#define UCALL_PORT 0x1000

static double seconds_between(struct timespec from, struct timespec to) {
  return (double)(to.tv_sec - from.tv_sec) + (double)(to.tv_nsec - from.tv_nsec) / 1e9;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static uint64_t load_elf(const char *path, uint8_t *mem, uint64_t *iterations_at) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) die(path);
  struct stat st;
  fstat(fd, &st);
  uint8_t *file = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (file == MAP_FAILED) die("mmap elf");
  Elf64_Ehdr *eh = (Elf64_Ehdr *)file;
  Elf64_Phdr *ph = (Elf64_Phdr *)(file + eh->e_phoff);
  for (int i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type != PT_LOAD) continue;
    memcpy(mem + ph[i].p_paddr, file + ph[i].p_offset, ph[i].p_filesz);
  }
  Elf64_Shdr *sh = (Elf64_Shdr *)(file + eh->e_shoff);
  for (int i = 0; i < eh->e_shnum; i++) {
    if (sh[i].sh_type != SHT_SYMTAB) continue;
    Elf64_Sym *syms = (Elf64_Sym *)(file + sh[i].sh_offset);
    const char *names = (const char *)(file + sh[sh[i].sh_link].sh_offset);
    for (size_t s = 0; s < sh[i].sh_size / sizeof(Elf64_Sym); s++) {
      if (strcmp(names + syms[s].st_name, "iterations") == 0) *iterations_at = syms[s].st_value;
    }
  }
  uint64_t entry = eh->e_entry;
  munmap(file, (size_t)st.st_size);
  close(fd);
  return entry;
}

/* The hand-off of `thread` mode: the main thread sets `job`, the runner clears it with the result. */
static atomic_int job;
static int job_result;
static int vcpu_fd;

static void *runner(void *unused) {
  (void)unused;
  for (;;) {
    int kind;
    while ((kind = atomic_load_explicit(&job, memory_order_acquire)) == 0) __builtin_ia32_pause();
    if (kind < 0) return NULL;
    job_result = ioctl(vcpu_fd, KVM_RUN, 0) < 0 ? -errno : 0;
    atomic_store_explicit(&job, 0, memory_order_release);
  }
}

static int run_on_runner(void) {
  atomic_store_explicit(&job, 1, memory_order_release);
  while (atomic_load_explicit(&job, memory_order_acquire) != 0) __builtin_ia32_pause();
  return job_result;
}

static int run_here(void) { return ioctl(vcpu_fd, KVM_RUN, 0) < 0 ? -errno : 0; }

int main(int argc, char **argv) {
  int threaded = argc == 4 && strcmp(argv[3], "thread") == 0;
  if ((argc != 3 && argc != 4) || (argc == 4 && !threaded && strcmp(argv[3], "direct") != 0)) {
    fprintf(stderr, "usage: %s <pio_loop.elf> <iterations> [direct|thread]\n", argv[0]);
    return 2;
  }
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("/dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM");
  uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (uint64_t)mem};
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");

  uint64_t iterations_at = 0;
  uint64_t entry = load_elf(argv[1], mem, &iterations_at);
  if (!iterations_at) die("no 'iterations' symbol");
  *(uint64_t *)(mem + iterations_at) = strtoull(argv[2], NULL, 0);

  /* Identity-map the first 1 GiB with 2 MiB pages. */
  *(uint64_t *)(mem + PML4) = PDPT | 3;
  *(uint64_t *)(mem + PDPT) = PD | 3;
  for (uint64_t i = 0; i < 512; i++) *(uint64_t *)(mem + PD + i * 8) = (i << 21) | 0x83;

  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) die("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die("mmap kvm_run");

  struct kvm_sregs sregs;
  ioctl(vcpu, KVM_GET_SREGS, &sregs);
  struct kvm_segment code = {.base = 0, .limit = 0xffffffff, .selector = 8, .type = 11, .present = 1, .s = 1, .l = 1, .g = 1};
  struct kvm_segment data = {.base = 0, .limit = 0xffffffff, .selector = 16, .type = 3, .present = 1, .s = 1, .db = 1, .g = 1};
  sregs.cs = code;
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.tr.type = 11;
  sregs.tr.present = 1;
  sregs.tr.limit = 0x67;
  sregs.cr3 = PML4;
  sregs.cr4 = 1 << 5;
  sregs.cr0 = 0x80050033;
  sregs.efer = 0x500;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
  struct kvm_regs regs = {.rip = entry, .rsp = STACK_TOP, .rflags = 2};
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");

  vcpu_fd = vcpu;
  pthread_t thread;
  if (threaded && pthread_create(&thread, NULL, runner, NULL) != 0) die("pthread_create");
  int (*run_vcpu)(void) = threaded ? run_on_runner : run_here;

  struct timespec start, end, cpu_start, cpu_end;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_start);
  clock_gettime(CLOCK_MONOTONIC, &start);
  unsigned long exits = 0;
  for (;;) {
    int result = run_vcpu();
    if (result < 0) {
      errno = -result;
      die("KVM_RUN");
    }
    if (run->exit_reason != KVM_EXIT_IO) {
      fprintf(stderr, "unexpected exit %u\n", run->exit_reason);
      return 1;
    }
    if (run->io.port == BENCH_PORT) {
      exits++;
      continue;
    }
    if (run->io.port == UCALL_PORT) break; /* the guest's GUEST_DONE */
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_end);
  if (threaded) {
    atomic_store_explicit(&job, -1, memory_order_release);
    pthread_join(thread, NULL);
  }
  munmap(run, (size_t)run_size); /* the shim reports the vCPU's KVM_RUN time here */
  printf("%lu %.6f %.6f\n", exits, seconds_between(start, end), seconds_between(cpu_start, cpu_end));
  return 0;
}
