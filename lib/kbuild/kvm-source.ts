// KVM's sources (arch/x86/kvm and virt/kvm) from Debian's kernel sources of one version, extracted
// once, then copied into a build directory of their own with our patches applied. The copy keeps the
// kernel's relative layout; its Makefile is adjusted to find virt/kvm and its own headers there rather
// than in the headers package, which has neither.
import fs from 'node:fs';
import path from 'node:path';

import { cacheDir, cachedDirectory } from '../cache';
import { KERNEL_SOURCE, kernelSourceTarball } from '../debian/kernel';
import { versionDirName } from '../debian/packages';
import { runProgram } from '../process';
import type { OnProgress } from '../progress';

const PARTS = ['arch/x86/kvm', 'virt/kvm'];

export class BuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BuildError';
  }
}

/** A patch that is missing (exit 66, no input), empty or does not apply (65, data error). */
export class PatchError extends BuildError {
  constructor(readonly reason: 'missing' | 'empty' | 'doesNotApply', message: string) {
    super(message);
    this.name = 'PatchError';
  }
}

/** What can be told about the patch files without the sources: they exist and say something. */
export function checkPatchFiles(patches: readonly string[]): void {
  for (const patch of patches) {
    let text: string;
    try {
      text = fs.readFileSync(patch, 'utf8');
    } catch (error) {
      throw new PatchError('missing', `patch ${patch} cannot be read: ${(error as Error).message}`);
    }
    if (!/^(---|\+\+\+|diff --git) /m.test(text)) throw new PatchError('empty', `patch ${patch} is empty or not a patch (no ---/+++ lines)`);
  }
}

/** KVM's sources from Debian's linux-source-6.12 of `version`, extracted once into the cache. */
export async function debianKvmSources(version: string, onProgress?: OnProgress): Promise<KvmSources> {
  return { dir: await pristineSources(version, onProgress), what: `${KERNEL_SOURCE} ${version}` };
}

/** KVM's sources as they are in a kernel tree (kvm.git, say): the tree's own, not Debian's. */
export function treeKvmSources(tree: string): KvmSources {
  return { dir: tree, what: `the kernel tree ${tree}` };
}

/** Where KVM's pristine sources are (a tree holding arch/x86/kvm and virt/kvm), and what they are. */
export interface KvmSources {
  dir: string;
  what: string;
}

/** A built tree has objects beside the sources: only the sources are copied. */
function isSource(file: string): boolean {
  return !/\.(o|ko|a|mod|mod\.c|cmd|order|symvers)$/.test(file) && !path.basename(file).startsWith('.');
}

async function pristineSources(version: string, onProgress: OnProgress | undefined): Promise<string> {
  const dir = path.join(cacheDir('kbuild'), `kvm-source-${versionDirName(version)}`);
  return cachedDirectory(dir, async (tmp) => {
    const tarball = await kernelSourceTarball(version, onProgress);
    onProgress?.({ kind: 'step', text: `extracting ${PARTS.join(' and ')} from ${KERNEL_SOURCE} ${version}` });
    const result = await runProgram('tar', ['-xJf', tarball, '-C', tmp, '--strip-components=1', ...PARTS.map((p) => `${KERNEL_SOURCE}/${p}`)]);
    if (result.status !== 0) throw new BuildError(`extracting ${tarball} failed: ${result.stderr.trim()}`);
  });
}

/** Applies `patch` to the sources in `dest`; `what` names them in errors. */
async function applyPatch(dest: string, patch: string, what: string): Promise<void> {
  const result = await runProgram('patch', ['-p1', '--forward', '--batch', '-d', dest, '-i', path.resolve(patch)]);
  if (result.status !== 0) throw new PatchError('doesNotApply', `patch ${patch} does not apply to ${what}:\n${(result.stdout + result.stderr).trim()}`);
}

/** A fresh, patched copy of KVM's sources in `dest`; returns the module directory (arch/x86/kvm). */
export async function preparedSources(sources: KvmSources, patches: readonly string[], dest: string): Promise<string> {
  fs.rmSync(dest, { recursive: true, force: true });
  for (const part of PARTS) {
    fs.cpSync(path.join(sources.dir, part), path.join(dest, part), { recursive: true, filter: (file) => file === path.join(sources.dir, part) || isSource(file) });
  }
  for (const patch of patches) await applyPatch(dest, patch, sources.what);
  const moduleDir = path.join(dest, 'arch', 'x86', 'kvm');
  const makefile = path.join(moduleDir, 'Makefile');
  const text = fs.readFileSync(makefile, 'utf8');
  const adjusted = text
    .replace('-I $(srctree)/arch/x86/kvm', '-I $(src) -I $(src)/../../../include/trace-root')
    .replace('include $(srctree)/virt/kvm/Makefile.kvm', 'include $(src)/../../../virt/kvm/Makefile.kvm');
  if (adjusted === text) throw new BuildError(`${makefile} no longer has the lines the out-of-tree build adjusts`);
  fs.writeFileSync(makefile, adjusted);
  // trace.h includes "../../arch/x86/kvm/..." relative to an include directory two levels down.
  fs.mkdirSync(path.join(dest, 'include', 'trace-root'), { recursive: true });
  return moduleDir;
}
