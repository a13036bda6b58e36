// The host programs the runner needs. Missing ones are installed with apt-get when we are root
// (lib/debian/apt.ts); otherwise the error says the exact command to run.
import fs from 'node:fs';

import { ensureTools, type HostTool, MissingPackages, onPath, programTool } from '../debian/apt';
import type { OnProgress } from '../progress';
import { VmError } from './errors';
import { qemuProgram } from './qemu';

export const BUSYBOX = '/bin/busybox';

/** A program with no ELF interpreter (PT_INTERP) runs without a libc: the guest's initramfs has none. */
export function isStaticElf(file: string): boolean {
  let elf: Buffer;
  try {
    elf = fs.readFileSync(file);
  } catch {
    return false;
  }
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false;
  const phoff = Number(elf.readBigUInt64LE(32));
  const phentsize = elf.readUInt16LE(54);
  for (let i = 0; i < elf.readUInt16LE(56); i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > elf.length) return false;
    if (elf.readUInt32LE(at) === 3 /* PT_INTERP */) return false;
  }
  return true;
}

/** The programs the runner needs, with their Debian packages. */
const RUNNER_TOOLS: readonly HostTool[] = [
  { name: qemuProgram(), package: 'qemu-system-x86', present: () => Boolean(process.env['KVM_XEN_QEMU']) || onPath(qemuProgram()) },
  // Debian's `busybox` package is dynamic and also owns /bin/busybox; `busybox-static` replaces it.
  { name: `a static ${BUSYBOX}`, package: 'busybox-static', present: () => isStaticElf(BUSYBOX) },
  programTool('xz', 'xz-utils'),
];

/** Debian packages for the runner: QEMU, a static busybox for the guest's init, xz for modules. */
export const RUNNER_PACKAGES = RUNNER_TOOLS.map((tool) => tool.package);

/** Makes sure QEMU, a static busybox and xz are there: installs them if it can, else says how. */
export async function ensureHostTools(onProgress?: OnProgress): Promise<void> {
  const override = process.env['KVM_XEN_QEMU'];
  if (override && !onPath(override)) throw new VmError('missingTool', `KVM_XEN_QEMU=${override} is not an executable program`);
  try {
    await ensureTools(RUNNER_TOOLS, 'the VM runner', onProgress);
  } catch (error) {
    if (error instanceof MissingPackages) throw new VmError('missingTool', error.message);
    throw error;
  }
}
