// kvm-xen build-kvm: KVM modules for a Debian kernel, with patches, for `test --vm --kvm-modules`.
import { parseArgs } from 'node:util';

import { BuildError, buildKvmModules } from '../../lib/kbuild';
import { PackageError } from '../../lib/debian/packages';
import { VmError } from '../../lib/vm';
import type { Command } from './command';

const usage = `usage: kvm-xen build-kvm [--kernel debian|debian:VERSION] [--patch FILE]... [--out DIR]

Builds kvm.ko, kvm-amd.ko and kvm-intel.ko out of tree from Debian's linux-source-6.12 of the
kernel's version, with the patches applied (patch -p1), against Debian's matching headers.
Prints the directory with the modules as the last line of stdout, for:
  kvm-xen test --vm --kvm-modules DIR
Results are cached per kernel and patch contents.`;

export const buildKvm: Command = {
  summary: 'build kvm.ko / kvm-amd.ko for a Debian kernel with your patches (for --kvm-modules)',
  usage,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        kernel: { type: 'string' },
        patch: { type: 'string', multiple: true },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(`${usage}\n`);
      return 0;
    }
    try {
      const started = Date.now();
      const result = await buildKvmModules({
        ...(values.kernel ? { kernel: values.kernel } : {}),
        patches: values.patch ?? [],
        ...(values.out ? { out: values.out } : {}),
      });
      process.stderr.write(`kvm-xen build-kvm: ${result.built ? 'built' : 'reused'} modules for ${result.kernel} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      process.stdout.write(`${result.dir}\n`);
      return 0;
    } catch (error) {
      if (error instanceof BuildError || error instanceof PackageError) {
        process.stderr.write(`kvm-xen build-kvm: ${error.message}\n`);
        return 1;
      }
      if (error instanceof VmError) {
        process.stderr.write(`kvm-xen build-kvm: ${error.message}\n`);
        return error.status;
      }
      throw error;
    }
  },
};
