// kvm-xen build-kvm: kvm.ko, kvm-amd.ko and kvm-intel.ko for a Debian 6.12 kernel, built out of tree
// from Debian's sources of the same version, with patches, against Debian's headers of the same ABI.
// The result is cached by kernel and patch contents: building again with the same inputs is instant.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { cacheDir } from '../cache';
import { DEFAULT_KERNEL, debianKernel, debianKernelSpec, KVM_MODULES, type DebianKernel } from '../debian/kernel';
import { runProgram } from '../process';
import type { OnProgress } from '../progress';
import { headersTree } from './headers';
import { BuildError, checkPatchFiles, preparedSources } from './kvm-source';
import { ensureKbuildTools } from './toolchain';

export interface BuildOptions {
  /** debian (default) or debian:VERSION. */
  kernel?: string;
  patches?: readonly string[];
  /** Where to put the modules (default: a cache directory named after the kernel and patches). */
  out?: string;
  /** Told of each long step (downloads, unpacking, the build); nothing is printed. */
  onProgress?: OnProgress;
}

export interface BuiltModules {
  dir: string;
  kernel: string;
  /** Whether this call compiled them (false: reused from the cache). */
  built: boolean;
}

function patchesKey(patches: readonly string[]): string {
  if (patches.length === 0) return 'stock';
  const hash = crypto.createHash('sha256');
  for (const patch of patches) hash.update(fs.readFileSync(patch)).update('\0');
  return hash.digest('hex').slice(0, 16);
}

function complete(dir: string): boolean {
  return KVM_MODULES.every((name) => fs.existsSync(path.join(dir, `${name}.ko`)));
}

/** The Debian kernel `spec` names (debian, debian:VERSION), with the toolchain to build for it checked. */
export async function buildTarget(spec = DEFAULT_KERNEL, onProgress?: OnProgress): Promise<DebianKernel> {
  const debian = debianKernelSpec(spec);
  if (!debian) throw new BuildError(`build-kvm builds for Debian kernels (debian, debian:VERSION), not ${spec}`);
  await ensureKbuildTools(onProgress);
  return debianKernel(debian.version, onProgress);
}

/**
 * `make modules` for the KVM sources in `moduleDir` against the headers tree, then each module
 * stripped into `out`; resolves with make's output. A failed build is a BuildError with make's last lines.
 */
export async function compileModules(headers: string, moduleDir: string, out: string, signal?: AbortSignal): Promise<string> {
  const make = await runProgram('make', ['-C', headers, `M=${moduleDir}`, `-j${Math.max(2, os.cpus().length)}`, 'modules'], signal ? { signal } : {});
  if (make.status !== 0) {
    const tail = (make.stdout + make.stderr).trim().split('\n').slice(-25).join('\n');
    throw new BuildError(`building the KVM modules failed:\n${tail}`);
  }
  fs.mkdirSync(out, { recursive: true });
  for (const name of KVM_MODULES) {
    // Stripped as Debian ships them: a third of the size, and quicker into the guest's initramfs.
    const strip = await runProgram('strip', ['--strip-debug', '-o', path.join(out, `${name}.ko`), path.join(moduleDir, `${name}.ko`)]);
    if (strip.status !== 0) throw new BuildError(`strip ${name}.ko failed: ${strip.stderr.trim()}`);
  }
  return make.stdout;
}

export async function buildKvmModules(options: BuildOptions = {}): Promise<BuiltModules> {
  const patches = options.patches ?? [];
  checkPatchFiles(patches);
  const { onProgress } = options;
  const kernel = await buildTarget(options.kernel, onProgress);
  const { abi, version } = kernel;
  const out = options.out ?? path.join(cacheDir('kvm-modules'), `${abi}-${patchesKey(patches)}`);
  if (!options.out && complete(out)) return { dir: out, kernel: kernel.description, built: false };

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-kbuild-'));
  try {
    // The patches first: one that does not apply is reported before the headers are fetched.
    const moduleDir = await preparedSources(version, patches, work, onProgress);
    const headers = await headersTree(abi, onProgress);
    onProgress?.({ kind: 'step', text: `building KVM modules for ${abi}${patches.length ? ` with ${patches.length} patch(es)` : ''}` });
    await compileModules(headers, moduleDir, out);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return { dir: out, kernel: kernel.description, built: true };
}
