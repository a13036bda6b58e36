// kvm-xen build-kvm: KVM modules for a Debian kernel, with patches, for `test --vm --kvm-modules`.
import { parseArgs } from 'node:util';

import { buildKvmModules } from '../../lib/kbuild';
import { printProgress } from '../progress';
import { type Command, UsageError } from './command';

const usage = `usage: kvm-xen build-kvm [--kernel debian|debian:VERSION | --tree TREE] [--patch FILE]... [--out DIR]

Builds kvm.ko, kvm-amd.ko and kvm-intel.ko out of tree from Debian's linux-source-6.12 of the
kernel's version, with the patches applied (patch -p1), against Debian's matching headers.
With --tree TREE (a kernel tree built with make, CONFIG_KVM=m): from the tree's own KVM sources,
with the patches, against the tree, for --kernel TREE.
Prints the directory with the modules as the last line of stdout, for:
  kvm-xen test --vm [--kernel TREE] --kvm-modules DIR
Results are cached per kernel (or tree) and patch contents. The toolchain and the patches are checked
before anything is built.

Exit status: 0 built or reused; 1 the build failed; 64 usage error; 65 a patch is empty or does not
apply; 66 a patch file is missing, or TREE is no built tree with KVM as a module; 69 a tool is
missing and could not be installed.`;

export const buildKvm: Command = {
  summary: 'build kvm.ko / kvm-amd.ko for a Debian kernel or a tree with your patches (for --kvm-modules)',
  usage,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        kernel: { type: 'string' },
        tree: { type: 'string' },
        patch: { type: 'string', multiple: true },
        out: { type: 'string' },
      },
    });
    if (values.kernel !== undefined && values.tree !== undefined) throw new UsageError('--kernel and --tree exclude each other');
    const started = Date.now();
    const result = await buildKvmModules({
      ...(values.kernel ? { kernel: values.kernel } : {}),
      ...(values.tree !== undefined ? { tree: values.tree } : {}),
      patches: values.patch ?? [],
      ...(values.out ? { out: values.out } : {}),
      onProgress: printProgress(),
    });
    process.stderr.write(`kvm-xen build-kvm: ${result.built ? 'built' : 'reused'} modules for ${result.kernel} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    process.stdout.write(`${result.dir}\n`);
    return 0;
  },
};
