// KVM's sources (arch/x86/kvm and virt/kvm) from Debian's linux-source-6.12 of one version, extracted
// once, then copied into a build directory of their own with our patches applied. The copy keeps the
// kernel's relative layout; its Makefile is adjusted to find virt/kvm and its own headers there rather
// than in the headers package, which has neither.
import fs from 'node:fs';
import path from 'node:path';

import { cacheDir, cachedDirectory } from '../cache';
import { runProgram, unpackedPackage, versionDirName } from '../debian/packages';

const SOURCE_PACKAGE = 'linux-source-6.12';
const PARTS = ['arch/x86/kvm', 'virt/kvm'];

export class BuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BuildError';
  }
}

/** Extracts `parts` (paths in the kernel tree) of linux-source-6.12 `version` into `dest`, as a tree. */
export async function extractSourceParts(version: string, parts: readonly string[], dest: string): Promise<void> {
  const source = await unpackedPackage(SOURCE_PACKAGE, version);
  const tarball = path.join(source, 'usr', 'src', `${SOURCE_PACKAGE}.tar.xz`);
  const result = await runProgram('tar', ['-xJf', tarball, '-C', dest, '--strip-components=1', ...parts.map((p) => `${SOURCE_PACKAGE}/${p}`)]);
  if (result.status !== 0) throw new BuildError(`extracting ${tarball} failed: ${result.stderr.trim()}`);
}

async function pristineSources(version: string): Promise<string> {
  const dir = path.join(cacheDir('kbuild'), `kvm-source-${versionDirName(version)}`);
  return cachedDirectory(dir, async (tmp) => {
    process.stderr.write(`kvm-xen: extracting ${PARTS.join(' and ')} from ${SOURCE_PACKAGE} ${version}\n`);
    await extractSourceParts(version, PARTS, tmp);
  });
}

/** A fresh, patched copy of KVM's sources in `dest`; returns the module directory (arch/x86/kvm). */
export async function preparedSources(version: string, patches: readonly string[], dest: string): Promise<string> {
  const pristine = await pristineSources(version);
  fs.rmSync(dest, { recursive: true, force: true });
  fs.cpSync(pristine, dest, { recursive: true });
  for (const patch of patches) {
    const result = await runProgram('patch', ['-p1', '--forward', '--batch', '-d', dest, '-i', path.resolve(patch)]);
    if (result.status !== 0) {
      throw new BuildError(`patch ${patch} does not apply to ${SOURCE_PACKAGE} ${version}:\n${(result.stdout + result.stderr).trim()}`);
    }
  }
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
