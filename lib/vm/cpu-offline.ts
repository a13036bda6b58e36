// Multi-threaded TCG can let one vCPU run kernel text that another vCPU has just patched (the "Oops:
// int3" flake, vm-on-this-machine.md). Seen at boot (static keys flipping in initcalls: sched_clock_cpu),
// when the keeper's first VM enables the preempt-notifier key that __schedule tests, and in module
// swaps. So under TCG the guest boots on one CPU (maxcpus=1) and the init brings the others up once
// KVM's modules are in and the keeper runs; a swap takes them offline again while it works. Under KVM
// a vCPU never runs stale text, and the guest boots all its CPUs as usual.

/** The kernel argument that boots only the boot CPU; the others stay present, offline. */
export const BOOT_CPU_ONLY = 'maxcpus=1';

/** Shell lines that take every online secondary CPU offline and list them in $offline. */
export const SECONDARY_CPUS_OFFLINE = `offline=
for cpu in /sys/devices/system/cpu/cpu[1-9]*; do
  [ "$(cat $cpu/online 2> /dev/null)" = 1 ] && echo 0 > $cpu/online && offline="$offline $cpu"
done`;

/** The shell line that brings back the CPUs SECONDARY_CPUS_OFFLINE took offline. */
export const SECONDARY_CPUS_BACK = 'for cpu in $offline; do echo 1 > $cpu/online; done';

/** Shell lines for the init (its fail function): every offline CPU brought up, the command gets them all. */
export const ALL_CPUS_ONLINE = `for cpu in /sys/devices/system/cpu/cpu[1-9]*; do
  [ "$(cat $cpu/online 2> /dev/null)" = 0 ] || continue
  echo 1 > $cpu/online || fail "cannot bring \${cpu##*/} online"
done`;
