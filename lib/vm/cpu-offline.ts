// Multi-threaded TCG can let one vCPU run kernel text that another vCPU has just patched (the "Oops:
// int3" flake, vm-on-this-machine.md). Guest scripts that load KVM's modules or flip its static keys
// (the keeper's VM creation enables the preempt-notifier key that __schedule tests) take the secondary
// CPUs offline first and bring them back after; the boot CPU alone cannot race itself.

/** Shell lines that take every online secondary CPU offline and list them in $offline. */
export const SECONDARY_CPUS_OFFLINE = `offline=
for cpu in /sys/devices/system/cpu/cpu[1-9]*; do
  [ "$(cat $cpu/online 2> /dev/null)" = 1 ] && echo 0 > $cpu/online && offline="$offline $cpu"
done`;

/** The shell line that brings back the CPUs SECONDARY_CPUS_OFFLINE took offline. */
export const SECONDARY_CPUS_BACK = 'for cpu in $offline; do echo 1 > $cpu/online; done';
