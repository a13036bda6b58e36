/*
 * kvm-xen-keeper: holds one idle VM with Xen emulation enabled for as long as the guest kernel runs.
 *
 * Multi-threaded TCG sometimes lets a vCPU execute stale bytes while the guest kernel live-patches a
 * static key (the one KVM flips when the first VM is created and the last destroyed, and
 * kvm_xen_enabled), which shows as "Oops: int3". With this VM alive, those keys never flip back during
 * the run. It returns once the VM exists (and stays behind in the background), so the one flip that
 * remains happens while the guest is still quiet, before the command starts. Static, because the
 * initramfs has no libc.
 *
 * With an argument, it writes the idle VM's pid to that file first: a guest session that reloads the
 * KVM modules (session.ts) stops it by that pid, since a module in use cannot be unloaded.
 */
#include <fcntl.h>
#include <stdio.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <unistd.h>

#define XEN_HYPERCALL_MSR 0x40000000

int main(int argc, char **argv) {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) return 1;
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) return 1;
  int xen = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_XEN_HVM);
  if (xen > 0 && (xen & KVM_XEN_HVM_CONFIG_HYPERCALL_MSR)) {
    struct kvm_xen_hvm_config config = {.msr = XEN_HYPERCALL_MSR};
    ioctl(vm, KVM_XEN_HVM_CONFIG, &config);
  }
  pid_t child = fork();
  if (child < 0) return 1;
  if (child > 0) {
    if (argc > 1) {
      FILE *pidfile = fopen(argv[1], "w");
      if (!pidfile || fprintf(pidfile, "%d\n", (int)child) < 0 || fclose(pidfile) != 0) return 1;
    }
    return 0;  /* the parent reports "ready"; the child keeps the VM */
  }
  setsid();
  for (;;) pause();
}
