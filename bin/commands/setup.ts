// kvm-xen setup: install what the VM runner needs, fetch the kernel and build its initramfs, so the
// first `kvm-xen vm` or `test --vm` boots at once (and needs no network).
import { parseArgs } from 'node:util';

import { ensureHostTools, prepareKernel, RUNNER_PACKAGES } from '../../lib/vm';
import { printProgress } from '../progress';
import type { Command } from './command';

const usage = `usage: kvm-xen setup [--kernel K] [--kvm-modules DIR]

Installs the VM runner's host packages when they are missing (with apt-get, as root; otherwise
prints the command): ${RUNNER_PACKAGES.join(' ')}.
Fetches and unpacks the kernel (default: debian, the newest Debian 6.12 amd64 kernel) into the
cache and builds its initramfs, so that later runs need no network.`;

export const setup: Command = {
  summary: `install the VM runner's host packages and fetch the default kernel`,
  usage,
  async run(argv) {
    const { values } = parseArgs({ args: argv, options: { kernel: { type: 'string' }, 'kvm-modules': { type: 'string' } } });
    const onProgress = printProgress();
    await ensureHostTools(onProgress);
    const kernel = await prepareKernel({
      ...(values.kernel ? { kernel: values.kernel } : {}),
      ...(values['kvm-modules'] ? { kvmModules: values['kvm-modules'] } : {}),
      onProgress,
    });
    process.stdout.write(`kvm-xen setup: ready: QEMU, busybox and xz are installed; kernel ${kernel.description} is cached with its initramfs\n`);
    return 0;
  },
};
