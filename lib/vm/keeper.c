/*
 * kvm-xen-keeper: holds idle VMs with Xen emulation enabled for as long as the guest kernel runs.
 *
 * Multi-threaded TCG sometimes lets a vCPU execute stale bytes while the guest kernel live-patches a
 * static key, which shows as "Oops: int3". KVM flips several as VMs and vCPUs come and go: the preempt
 * notifier key (the first VM), kvm_xen_enabled (the first Xen VM), apic_sw_disabled (a vCPU whose
 * local APIC the guest has not enabled yet: every new vCPU), apic_hw_disabled (a local APIC turned off
 * in its base MSR) and kvm_has_noapic_vcpu (a vCPU without an in-kernel local APIC). With a VM and a
 * vCPU holding each, none of them flips back while tests run. It returns once they exist (and stays
 * behind in the background), so the flips happen before the command starts (the init brings up the
 * other CPUs after it, cpu-offline.ts). Static, because the initramfs has no libc.
 *
 * With an argument, it writes the idle VMs' pid to that file first: a guest session that reloads the
 * KVM modules (session.ts) stops it by that pid, since a module in use cannot be unloaded.
 */
#include <fcntl.h>
#include <stdio.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <unistd.h>

#define XEN_HYPERCALL_MSR 0x40000000
#define MSR_IA32_APICBASE 0x1b
/* The default base with the enable bit (11) clear: this vCPU's local APIC turned off. */
#define APICBASE_DISABLED 0xfee00000

/* A vCPU whose local APIC is off in its base MSR, and so also never software-enabled. */
static void hold_disabled_apic(int vm) {
  if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) return;
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) return;
  struct {
    struct kvm_msrs header;
    struct kvm_msr_entry entry;
  } msrs = {.header = {.nmsrs = 1}, .entry = {.index = MSR_IA32_APICBASE, .data = APICBASE_DISABLED}};
  ioctl(vcpu, KVM_SET_MSRS, &msrs);
}

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
  /* Best effort: a key this kernel cannot be made to hold only costs the protection. */
  hold_disabled_apic(vm);
  int apicless = ioctl(kvm, KVM_CREATE_VM, 0);
  if (apicless >= 0) ioctl(apicless, KVM_CREATE_VCPU, 0);
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
