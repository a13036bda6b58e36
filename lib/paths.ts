// Where the package's built artefacts are, from the compiled file's place (dist/lib/paths.js).
import path from 'node:path';

export const projectRoot = path.resolve(__dirname, '..', '..');

/** build/Release/kvm_xen.node: the addon built by node-gyp. */
export const addonPath = path.join(projectRoot, 'build', 'Release', 'kvm_xen.node');

/** build/tools/vm-keeper: the VM runner's keeper (lib/vm/keeper.c), built by `make tools`. */
export const keeperPath = path.join(projectRoot, 'build', 'tools', 'vm-keeper');

/** build/guest/<name>.elf: the guest programs built by `make guests`. */
export function guestProgramPath(name: string): string {
  return path.join(projectRoot, 'build', 'guest', `${name}.elf`);
}
