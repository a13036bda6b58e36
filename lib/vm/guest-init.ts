// The guest's /init (busybox sh) and the per-run command script. The init loads the modules, mounts
// the host's root read-only over 9p with writable scratch on top, starts the keeper VM, runs the
// command chrooted with its output on the second serial port, and reports its exit status on the
// console with the run's nonce. Arguments reach the command through single-quoted words, which the
// shell takes literally: nothing in them is expanded or split.

/** A word the shell reads back exactly: '...' with each ' written as '\''. */
export function shellQuote(word: string): string {
  if (word.includes('\0')) throw new TypeError('arguments cannot contain NUL bytes');
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export const markers = {
  start: 'KVMXEN-START',
  exit: 'KVMXEN-EXIT',
} as const;

export interface CommandScript {
  argv: readonly string[];
  cwd: string;
  env: Readonly<Record<string, string>>;
}

/** The script the init runs in the chroot (passed to sh -c as one argument). */
export function commandScript(job: CommandScript): string {
  if (job.argv.length === 0) throw new TypeError('no command to run');
  const exports = Object.entries(job.env).map(([key, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new TypeError(`bad environment variable name ${JSON.stringify(key)}`);
    return `export ${key}=${shellQuote(value)}`;
  });
  return [
    ...exports,
    `cd ${shellQuote(job.cwd)} || exit 126`,
    `exec ${job.argv.map(shellQuote).join(' ')}`,
  ].join('\n');
}

/**
 * /init. It reads the run's files from /run/kvm-xen (the per-run archive): nonce, command. Modules are
 * loaded in /modules/order; kvm_amd and kvm_intel only on their own vendor's CPU.
 */
export const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
CONSOLE=/dev/ttyS0
NONCE=$(cat /run/kvm-xen/nonce)
say() { echo "$*" > $CONSOLE; }
vendor=other
grep -q '^flags.* svm' /proc/cpuinfo && vendor=amd
grep -q '^flags.* vmx' /proc/cpuinfo && vendor=intel
while read -r name; do
  case "$name" in
    kvm_amd) [ $vendor = amd ] || continue ;;
    kvm_intel) [ $vendor = intel ] || continue ;;
  esac
  insmod /modules/$name.ko || say "kvm-xen-init: insmod $name failed"
done < /modules/order
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 hostroot /mnt || { say "kvm-xen-init: cannot mount the host root over 9p"; poweroff -f; }
mount -t proc proc /mnt/proc
mount -t sysfs sys /mnt/sys
mount -t devtmpfs dev /mnt/dev
mount -t tmpfs -o mode=1777 scratch /mnt/tmp
mount -t tmpfs run /mnt/run 2>/dev/null
[ -c /dev/kvm ] && /bin/kvm-xen-keeper &
stty -F /dev/ttyS1 raw -echo 2>/dev/null
say "$NONCE ${markers.start}"
chroot /mnt /bin/sh -c "$(cat /run/kvm-xen/command)" < /dev/null > /dev/ttyS1 2>&1
status=$?
sync
say "$NONCE ${markers.exit} $status"
poweroff -f
`;
