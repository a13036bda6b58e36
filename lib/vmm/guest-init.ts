// The /init of the initramfs `kvm-xen boot` runs: busybox only, no modules, no host filesystem. It
// runs the command with its stdout and stderr on the serial console (one line carries both), between
// the start line and the end marker of lib/vm's protocol (a nonce the command never sees), then
// reboots: without ACPI the kernel's reboot pulses the i8042's reset line, which ends the machine.
import { END_MARKER_PREFIX } from '../vm/end-marker';
import { INIT_PREAMBLE, START_MARKER } from '../vm/guest-init';

/** The files the per-run part of the initramfs carries. */
export const runFiles = {
  nonce: 'run/kvm-xen/nonce',
  command: 'run/kvm-xen/command',
  /** Present when the command's stdin is the console (else /dev/null). */
  consoleStdin: 'run/kvm-xen/console-stdin',
} as const;

// The init holds the console open on fd 3 from before the start line to after the end marker: each
// first open of the port resets the UART's receive FIFO (and the raw mode with it), which would drop
// what the host typed as soon as it saw the start line. The console goes raw: no echo of what the host
// types, and no "\n" to "\r\n" translation of the command's output. The last close, after the marker,
// waits until the marker has been sent, so the reboot cannot cut it off.
export const bootInitScript = `${INIT_PREAMBLE}
NONCE=$(cat /${runFiles.nonce})
rm -f /${runFiles.nonce}
IN=/dev/null
[ -e /${runFiles.consoleStdin} ] && IN=/dev/ttyS0
exec 3<> /dev/ttyS0
stty -F /dev/ttyS0 raw -echo
echo "$NONCE ${START_MARKER}" > /dev/ttyS0
sh -c "$(cat /${runFiles.command})" < $IN > /dev/ttyS0 2>&1
status=$?
printf '${END_MARKER_PREFIX}%s:%d\\n' "$NONCE" $status > /dev/ttyS0
exec 3>&-
reboot -f
`;
