// kvm-xen vm: boot a kernel in QEMU and run one command inside; exit with its status.
import { runInVm, VmError, vmExitStatus } from '../../lib/vm';
import { printProgress, reportVmResult } from '../progress';
import { parseVmArgs, vmOptionsHelp } from '../vm-flags';
import type { Command } from './command';

const usage = `usage: kvm-xen vm [VM OPTIONS] -- CMD [ARGS...]

Boots a kernel in QEMU with nested KVM, with this machine's root filesystem visible read-only and a
writable scratch /tmp, runs CMD (no shell in between: each ARG arrives as given) in the current
directory, streams its stdout and stderr, and exits with its status.

${vmOptionsHelp}

Exit status: the command's own, or one of the runner's:
  ${vmExitStatus.usage}   usage error                     ${vmExitStatus.badKernel}   kernel missing, corrupt or mismatched
  ${vmExitStatus.missingTool}   host tool missing (QEMU, ...)   ${vmExitStatus.guestPanic}   guest kernel panic or oops
  ${vmExitStatus.noStart}   command never started           ${vmExitStatus.flake}   TCG int3 flake, again after a retry
  ${vmExitStatus.timeout}  --timeout passed                ${vmExitStatus.interrupted}  interrupted (Ctrl-C)

Kernels and initramfs images are cached in \$XDG_CACHE_HOME/kvm-xen (default ~/.cache/kvm-xen;
KVM_XEN_CACHE overrides it). KVM_XEN_QEMU names a QEMU other than qemu-system-x86_64 from PATH.`;

export const vm: Command = {
  summary: 'boot a kernel in QEMU (nested KVM) and run a command inside it',
  usage,
  async run(argv) {
    const { options, rest, command } = parseVmArgs(argv);
    if (rest.length > 0) throw new VmError('usage', `unknown option ${rest[0]} (the command goes after --)`);
    if (!command || command.length === 0) throw new VmError('usage', 'no command: kvm-xen vm [VM OPTIONS] -- CMD [ARGS...]');
    return reportVmResult(await runInVm({ ...options, command, output: process.stdout, errorOutput: process.stderr, onProgress: printProgress() }));
  },
};
