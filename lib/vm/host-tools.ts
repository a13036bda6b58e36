// The host programs the runner needs. Missing ones are installed with apt-get when we are root (once),
// otherwise the error says the exact command to run.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

import { VmError } from './errors';
import { QEMU } from './qemu';

/** Debian packages for the runner: QEMU, a static busybox for the guest's init, xz for modules. */
export const RUNNER_PACKAGES = ['qemu-system-x86', 'busybox-static', 'xz-utils'];

function onPath(program: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', program], { stdio: 'ignore' }).status === 0;
}

function busyboxIsStatic(): boolean {
  if (!fs.existsSync('/bin/busybox')) return false;
  const result = spawnSync('sh', ['-c', 'LANG=C ldd /bin/busybox 2>&1'], { encoding: 'utf8' });
  return /not a dynamic executable|statically linked/.test(result.stdout);
}

function missing(): string[] {
  const wanted: string[] = [];
  if (!onPath(QEMU)) wanted.push('qemu-system-x86');
  if (!busyboxIsStatic()) wanted.push('busybox-static');
  if (!onPath('xz')) wanted.push('xz-utils');
  return wanted;
}

/** Installs the runner's packages with apt-get (root only); returns false if it could not. */
export function installPackages(packages: readonly string[]): boolean {
  if (process.getuid?.() !== 0) return false;
  process.stderr.write(`kvm-xen: installing ${packages.join(' ')}\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (update.status !== 0) return false;
  const install = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { stdio: ['ignore', 'ignore', 'inherit'], env });
  return install.status === 0;
}

export async function ensureHostTools(): Promise<void> {
  const wanted = missing();
  if (wanted.length === 0) return;
  if (installPackages(wanted) && missing().length === 0) return;
  throw new VmError('missingTool', `missing ${wanted.join(', ')}; install with: sudo apt-get install ${wanted.join(' ')}`);
}
