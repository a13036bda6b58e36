// kvm-xen tree build: a small kernel tree from Debian's linux-source-6.12 (lib/kbuild/tree.ts), for
// --kernel TREE and build-kvm --tree TREE.
import { parseArgs } from 'node:util';

import { buildKernelTree } from '../../lib/kbuild';
import { printProgress } from '../progress';
import { type Command, UsageError } from './command';

const usage = `usage: kvm-xen tree build [--version VERSION]

Builds a small kernel tree from Debian's linux-source-6.12 (the newest offered, or VERSION, e.g.
6.12.117-1~deb12u1): tinyconfig with the kernel's kvm_guest.config and kvm-xen's kernel/tree.config
merged over it (KVM as modules with CONFIG_KVM_XEN, 9p, virtio, the serial console), then
make bzImage modules under nice -n 10. Built once into the cache, keyed by the version and the
fragment. Prints the tree's directory as the last line of stdout, for:
  kvm-xen test --vm --kernel TREE
  kvm-xen build-kvm --tree TREE --patch FILE

Exit status: 0 built or reused; 1 the build failed; 64 usage error; 69 a tool is missing and could not
be installed.`;

export const tree: Command = {
  summary: 'build a small kernel tree from Debian\'s sources (for --kernel TREE)',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { version: { type: 'string' } } });
    if (positionals.length !== 1 || positionals[0] !== 'build') throw new UsageError(`expected "tree build", got ${JSON.stringify(positionals.join(' '))}`);
    const started = Date.now();
    const result = await buildKernelTree({ ...(values.version ? { version: values.version } : {}), onProgress: printProgress() });
    process.stderr.write(`kvm-xen tree: ${result.built ? 'built' : 'reused'} the tree of linux-source-6.12 ${result.version} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    process.stdout.write(`${result.dir}\n`);
    return 0;
  },
};
