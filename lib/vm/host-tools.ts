// The host programs the runner needs. Missing ones are installed with apt-get when we are root;
// otherwise the error says the exact command to run.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import type { OnProgress } from '../progress';
import { VmError } from './errors';
import { qemuProgram } from './qemu';

export const BUSYBOX = '/bin/busybox';

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function onPath(program: string): boolean {
  if (program.includes('/')) return executable(program);
  return (process.env['PATH'] ?? '').split(':').some((dir) => dir !== '' && executable(path.join(dir, program)));
}

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

/** The Debian package of each program the runner needs, and how to tell that the program is there. */
const RUNNER_TOOLS: ReadonlyArray<{ package: string; present: () => boolean }> = [
  { package: 'qemu-system-x86', present: () => Boolean(process.env['KVM_XEN_QEMU']) || onPath(qemuProgram()) },
  // Debian's `busybox` package is dynamic and also owns /bin/busybox; `busybox-static` replaces it.
  { package: 'busybox-static', present: () => isStaticElf(BUSYBOX) },
  { package: 'xz-utils', present: () => onPath('xz') },
];

/** Debian packages for the runner: QEMU, a static busybox for the guest's init, xz for modules. */
export const RUNNER_PACKAGES = RUNNER_TOOLS.map((tool) => tool.package);

/** The packages whose programs are missing. */
function missingPackages(): string[] {
  return RUNNER_TOOLS.filter((tool) => !tool.present()).map((tool) => tool.package);
}

/** Runs apt-get; what it says goes to onProgress (all of it, once it has ended). */
function aptGet(args: readonly string[], onProgress: OnProgress | undefined): boolean {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const result = spawnSync('apt-get', args, { stdio: ['ignore', 'pipe', 'pipe'], env, encoding: 'utf8', maxBuffer: 1 << 26 });
  const said = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (said) onProgress?.({ kind: 'toolOutput', text: said });
  return result.status === 0;
}

/** Installs Debian packages with apt-get (root only; updates the lists if a first try fails). */
export function installPackages(packages: readonly string[], onProgress?: OnProgress): boolean {
  if (process.getuid?.() !== 0) return false;
  onProgress?.({ kind: 'step', text: `installing ${packages.join(' ')}` });
  const install = ['install', '-y', '-q', '--no-install-recommends', ...packages];
  return aptGet(install, onProgress) || (aptGet(['update', '-q'], onProgress) && aptGet(install, onProgress));
}

/** Makes sure QEMU, a static busybox and xz are there: installs them if it can, else says how. */
export async function ensureHostTools(onProgress?: OnProgress): Promise<void> {
  const override = process.env['KVM_XEN_QEMU'];
  if (override && !onPath(override)) throw new VmError('missingTool', `KVM_XEN_QEMU=${override} is not an executable program`);
  const wanted = missingPackages();
  if (wanted.length === 0) return;
  if (installPackages(wanted, onProgress) && missingPackages().length === 0) return;
  const sudo = process.getuid?.() === 0 ? '' : 'sudo ';
  throw new VmError('missingTool', `missing ${wanted.join(', ')}; install with: ${sudo}apt-get install ${wanted.join(' ')}`);
}
