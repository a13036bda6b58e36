// The guest's /init (busybox sh) and the per-run command script. The init loads the modules, mounts
// the host's root read-only over 9p with writable scratch on top, starts the keeper VM, and runs the
// command chrooted, with a clean environment, its stdout and stderr on their own virtio-serial ports.
// When it exits the init writes the end marker with its status on both ports (end-marker.ts).
// Arguments reach the command through single-quoted words, which the shell takes literally: nothing in
// them is expanded or split.
import { ALL_CPUS_ONLINE } from './cpu-offline';
import { END_MARKER_PREFIX } from './end-marker';

/** A word the shell reads back exactly: '...' with each ' written as '\''. */
export function shellQuote(word: string): string {
  if (word.includes('\0')) throw new TypeError('arguments cannot contain NUL bytes');
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** An environment variable name the guest's shell can export. */
export const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The console line (with the nonce) that says the command is starting: the boot went well. */
export const START_MARKER = 'KVMXEN-START';

/** Where the keeper's pid is, as the command sees it (in the chroot): a session stops it to reload KVM. */
export const KEEPER_PID_FILE = '/run/kvm-xen-keeper.pid';

/** The virtio-serial port names the command's stdout and stderr go to (qemu.ts makes the ports). */
export const outputPorts = { stdout: 'kvmxen.stdout', stderr: 'kvmxen.stderr' } as const;

/** The virtio-serial port a warm-started guest reads its run from (snapshot.ts). */
export const controlPort = 'kvmxen.control';

/** The console line the init prints when it waits for its run: a warm start's snapshot point. */
export const SNAPSHOT_POINT = 'KVMXEN-SNAPSHOT-POINT';

export interface CommandScript {
  argv: readonly string[];
  cwd: string;
  env: Readonly<Record<string, string>>;
}

/** The script the init runs in the chroot (passed to sh -c as one argument). */
export function commandScript(job: CommandScript): string {
  if (job.argv.length === 0) throw new TypeError('no command to run');
  const exportLines = Object.entries(job.env).map(([key, value]) => {
    if (!SHELL_NAME.test(key)) throw new TypeError(`bad environment variable name ${JSON.stringify(key)}`);
    return `export ${key}=${shellQuote(value)}`;
  });
  return [
    ...exportLines,
    `cd ${shellQuote(job.cwd)} || exit 126`,
    `exec ${job.argv.map(shellQuote).join(' ')}`,
  ].join('\n');
}

/**
 * The first lines of every init this project writes (this one and lib/vmm's): busybox's applets on
 * PATH, and /proc, /sys and /dev mounted.
 */
export const INIT_PREAMBLE = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev`;

/** The modules the init loads only on their own vendor's CPU (the vendor from /proc/cpuinfo's svm or vmx flag). */
export const vendorModules: Readonly<Record<string, 'amd' | 'intel'>> = { kvm_amd: 'amd', kvm_intel: 'intel' };

/**
 * Where the per-run archive puts a module's parameters (--kvm-param): a file named after the module,
 * holding insmod's arguments as shell-quoted words (shellQuote), which the init reads back with eval.
 */
export const moduleParamsDir = 'run/kvm-xen/params';

/** A module's parameter file: its insmod arguments as words the init's eval reads back exactly. */
export function moduleParamsFile(args: readonly string[]): string {
  return `${args.map(shellQuote).join(' ')}\n`;
}

/**
 * /init. It reads the run's files from /run/kvm-xen (the per-run archive): nonce (removed once read,
 * so the command cannot learn it), command, params/MODULE; for a warm start (the file warm), the nonce
 * and the command's files come later, over the control port. Modules are loaded in /modules/order, each
 * with its parameters; kvm_amd and kvm_intel only on their own vendor's CPU. A module that does not
 * load stops the run: a suite run without the user's KVM modules would answer the wrong question.
 * Messages for the host start with "kvm-xen-init:" on the console.
 */
export const initScript = `${INIT_PREAMBLE}
NONCE=$(cat /run/kvm-xen/nonce 2> /dev/null)
rm -f /run/kvm-xen/nonce
say() { echo "$*" > /dev/ttyS0; }
fail() { say "kvm-xen-init: $*"; poweroff -f; sleep 60; }
vendor=other
grep -q '^flags.* svm' /proc/cpuinfo && vendor=amd
grep -q '^flags.* vmx' /proc/cpuinfo && vendor=intel
while read -r name; do
  case "$name" in
${Object.entries(vendorModules).map(([name, vendor]) => `    ${name}) [ $vendor = ${vendor} ] || continue ;;`).join('\n')}
  esac
  set --
  [ -f /${moduleParamsDir}/$name ] && eval "set -- $(cat /${moduleParamsDir}/$name)"
  insmod /modules/$name.ko "$@" 2> /tmp/insmod.err || fail "insmod $name $* failed: $(cat /tmp/insmod.err)"
done < /modules/order
port() {
  for dir in /sys/class/virtio-ports/*; do
    [ "$(cat $dir/name 2>/dev/null)" = "$1" ] && [ -c /dev/\${dir##*/} ] && { echo /dev/\${dir##*/}; return 0; }
  done
  return 1
}
tries=0
until OUT=$(port ${outputPorts.stdout}) && ERR=$(port ${outputPorts.stderr}); do
  tries=$((tries + 1))
  [ $tries -gt 200 ] && fail "no virtio-serial output ports (the kernel needs CONFIG_VIRTIO_CONSOLE)"
  usleep 50000
done
# A warm start (snapshot.ts): QEMU saves the guest here, or restores it to here, before the run is known
# and before the host root is mounted (a mounted 9p share cannot be saved). The run comes over the
# control port: the nonce, the host's clock, and the directory with the command's files.
if [ -e /run/kvm-xen/warm ]; then
  CONTROL=$(port ${controlPort}) || fail "no control port for the warm start"
  # Opened before the host is told it may send, and held until the line is read.
  exec 3< $CONTROL
  say "${SNAPSHOT_POINT}"
  read -r NONCE NOW FILES <&3 || fail "no run on the control port"
  exec 3<&-
  date -s "@$NOW" > /dev/null
fi
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 hostroot /mnt || fail "cannot mount the host root over 9p (the kernel needs 9P_FS and NET_9P_VIRTIO)"
[ -n "$FILES" ] && { cp "/mnt$FILES"/* /run/kvm-xen/ || fail "cannot read the run's files from $FILES"; }
mount -t proc proc /mnt/proc
mount -t sysfs sys /mnt/sys
mount -t devtmpfs dev /mnt/dev
mkdir -p /mnt/dev/shm /mnt/dev/pts
mount -t tmpfs -o mode=1777 shm /mnt/dev/shm
mount -t devpts devpts /mnt/dev/pts
# The scratch tmpfs would hide the directories a run needs under the host's /tmp (a CI checkout, a
# cache there): each listed in keep is set aside with a bind mount, then mounted back on top.
keep() { n=0; while read -r dir; do n=$((n + 1)); "$@" "$dir" /keep/$n; done < /run/kvm-xen/keep; }
aside() { mkdir -p "$2" && mount -o bind "/mnt$1" "$2"; }
back() { mkdir -p "/mnt$1" && mount -o bind "$2" "/mnt$1"; }
[ -e /run/kvm-xen/keep ] && keep aside
mount -t tmpfs -o mode=1777 scratch /mnt/tmp
[ -e /run/kvm-xen/keep ] && keep back
mount -t tmpfs run /mnt/run 2>/dev/null
[ -c /dev/kvm ] && /bin/kvm-xen-keeper /mnt${KEEPER_PID_FILE}
# Under TCG the guest booted on one CPU, so that the modules' load and the keeper's first VM patched
# kernel text with no other vCPU running it (cpu-offline.ts): the others come up now.
${ALL_CPUS_ONLINE}
# 9p without a cache drops a file's pages with its last user, so every Node process read the ~100 MB
# binary's pages over 9p again (8-19 s of each start under TCG here): held open, they stay cached.
HOLD=$(cat /run/kvm-xen/hold 2>/dev/null)
[ -n "$HOLD" ] && [ -r "/mnt$HOLD" ] && exec 7< "/mnt$HOLD"
say "$NONCE ${START_MARKER}"
env -i /bin/chroot /mnt /bin/sh -c "$(cat /run/kvm-xen/command)" < /dev/null > $OUT 2> $ERR 7<&-
status=$?
printf '${END_MARKER_PREFIX}%s:%d\\n' "$NONCE" $status > $ERR
printf '${END_MARKER_PREFIX}%s:%d\\n' "$NONCE" $status > $OUT
poweroff -f
`;
