// kvm-xen setup: install what the VM runner needs and fetch the default kernel.
import { ensureHostTools, resolveKernel, RUNNER_PACKAGES, VmError } from '../../lib/vm';
import type { Command } from './command';

export const setup: Command = {
  summary: `install the VM runner's host packages (${RUNNER_PACKAGES.join(', ')}) and fetch the default kernel`,
  async run(argv) {
    const kernelSpec = argv[argv.indexOf('--kernel') + 1] && argv.includes('--kernel') ? argv[argv.indexOf('--kernel') + 1]! : 'debian';
    try {
      await ensureHostTools();
      const kernel = await resolveKernel(kernelSpec);
      process.stdout.write(`kvm-xen setup: ready; kernel ${kernel.description}\n`);
      return 0;
    } catch (error) {
      if (!(error instanceof VmError)) throw error;
      process.stderr.write(`kvm-xen setup: ${error.message}\n`);
      return error.status;
    }
  },
};
