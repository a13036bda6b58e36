// kvm-xen build-kvm: kvm.ko, kvm-amd.ko and kvm-intel.ko for a Debian 6.12 kernel, built out of tree
// from Debian's sources of the same version, with patches, against Debian's headers of the same ABI;
// or, for a kernel tree built with make (--tree), from the tree's own KVM sources against the tree.
// The result is cached by kernel and patch contents: building again with the same inputs is instant.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { cacheDir } from '../cache';
import { DEFAULT_KERNEL, debianKernel, debianKernelSpec, type DebianKernel, KVM_MODULES } from '../debian/kernel';
import { runProgram } from '../process';
import type { OnProgress } from '../progress';
import { headersTree } from './headers';
import { ensureTools } from '../debian/apt';
import { VmError } from '../vm/errors';
import { treeConfig } from '../vm/tree-config';
import { BuildError, checkPatchFiles, debianKvmSources, type KvmSources, preparedSources, treeKvmSources } from './kvm-source';
import { ensureKbuildTools, TREE_MODULE_TOOLS } from './toolchain';

export interface BuildOptions {
  /** debian (default) or debian:VERSION. */
  kernel?: string;
  /**
   * A kernel tree built with `make` (instead of `kernel`): the modules are built from the tree's own
   * KVM sources, with the patches, against the tree (make -C TREE M=...), for `--kernel TREE`.
   */
  tree?: string;
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

export function patchesKey(patches: readonly string[]): string {
  if (patches.length === 0) return 'stock';
  const hash = crypto.createHash('sha256');
  for (const patch of patches) hash.update(fs.readFileSync(patch)).update('\0');
  return hash.digest('hex').slice(0, 16);
}

export function complete(dir: string): boolean {
  return KVM_MODULES.every((name) => fs.existsSync(path.join(dir, `${name}.ko`)));
}

/** What the modules are built against: KVM's sources, the kbuild tree, and the cache entry's name. */
interface BuildTarget {
  description: string;
  sources: KvmSources;
  kbuild: () => Promise<string>;
  cacheName: string;
}

/**
 * The Debian kernel `spec` (debian, debian:VERSION) names, once its toolchain is known to be there:
 * what every build against Debian's headers starts with. `refusal` says what else was expected.
 */
export async function debianKernelToBuildFor(spec: string, refusal: string, onProgress: OnProgress | undefined): Promise<DebianKernel> {
  const debian = debianKernelSpec(spec);
  if (!debian) throw new BuildError(`${refusal}, not ${spec}`);
  await ensureKbuildTools(onProgress);
  return debianKernel(debian.version, onProgress);
}

async function debianTarget(spec: string, onProgress: OnProgress | undefined): Promise<BuildTarget> {
  const kernel = await debianKernelToBuildFor(spec, 'build-kvm builds for Debian kernels (debian, debian:VERSION) or --tree TREE', onProgress);
  return {
    description: kernel.description,
    sources: await debianKvmSources(kernel.version, onProgress),
    kbuild: () => headersTree(kernel.abi, onProgress),
    cacheName: kernel.abi,
  };
}

/**
 * A built tree: its .config and Module.symvers say which kernel the modules are for, and the KVM
 * sources' sizes and times whether they changed since (kvm.git edited in place).
 */
async function treeTarget(tree: string, onProgress: OnProgress | undefined): Promise<BuildTarget> {
  const dir = path.resolve(tree);
  const needed = ['.config', 'Module.symvers', path.join('include', 'config', 'kernel.release')];
  const absent = needed.filter((file) => !fs.existsSync(path.join(dir, file)));
  if (absent.length > 0) throw new VmError('badKernel', `--tree ${tree} is not a built kernel tree (no ${absent.join(', ')}; run make in it first)`);
  if (treeConfig(dir).get('KVM') !== 'm') throw new VmError('badKernel', `--tree ${tree} does not build KVM as a module (it needs CONFIG_KVM=m)`);
  await ensureTools(TREE_MODULE_TOOLS, 'build-kvm --tree', onProgress);
  const hash = crypto.createHash('sha256').update(dir);
  for (const file of needed) hash.update(fs.readFileSync(path.join(dir, file)));
  for (const file of sourceFiles(dir)) {
    const stat = fs.statSync(file);
    hash.update(`${file}:${stat.size}:${stat.mtimeMs}\n`);
  }
  const release = fs.readFileSync(path.join(dir, 'include', 'config', 'kernel.release'), 'utf8').trim();
  return { description: `kernel tree ${dir} (${release})`, sources: treeKvmSources(dir), kbuild: async () => dir, cacheName: `tree-${release}-${hash.digest('hex').slice(0, 12)}` };
}

/** The source files (.c, .h, Makefiles) of KVM in a tree. */
function sourceFiles(tree: string): string[] {
  return ['arch/x86/kvm', 'virt/kvm'].flatMap((part) => fs.readdirSync(path.join(tree, part), { recursive: true, encoding: 'utf8' })
    .filter((file) => /(\.[ch]|Makefile.*|Kconfig)$/.test(file))
    .map((file) => path.join(tree, part, file)));
}

export async function buildKvmModules(options: BuildOptions = {}): Promise<BuiltModules> {
  if (options.tree !== undefined && options.kernel !== undefined) throw new BuildError('build-kvm takes --kernel or --tree, not both');
  const patches = options.patches ?? [];
  checkPatchFiles(patches);
  const { onProgress } = options;
  const target = options.tree !== undefined ? await treeTarget(options.tree, onProgress) : await debianTarget(options.kernel ?? DEFAULT_KERNEL, onProgress);
  const out = options.out ?? path.join(cacheDir('kvm-modules'), `${target.cacheName}-${patchesKey(patches)}`);
  if (!options.out && complete(out)) return { dir: out, kernel: target.description, built: false };

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-kbuild-'));
  try {
    // The patches first: one that does not apply is reported before the headers are fetched.
    const moduleDir = await preparedSources(target.sources, patches, work);
    const kbuild = await target.kbuild();
    onProgress?.({ kind: 'step', text: `building KVM modules for ${target.description}${patches.length ? ` with ${patches.length} patch(es)` : ''}` });
    await makeModules(kbuild, moduleDir);
    await installModules(moduleDir, out);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return { dir: out, kernel: target.description, built: true };
}

/** `make modules` of the KVM sources in `moduleDir` against a kbuild tree (headers or a kernel tree) (only what changed, again). */
export async function makeModules(headers: string, moduleDir: string, signal?: AbortSignal): Promise<string> {
  const make = await runProgram('make', ['-C', headers, `M=${moduleDir}`, `-j${Math.max(2, os.cpus().length)}`, 'modules'], signal ? { signal } : {});
  if (make.status !== 0) {
    const tail = (make.stdout + make.stderr).trim().split('\n').slice(-25).join('\n');
    throw new BuildError(`building the KVM modules failed:\n${tail}`);
  }
  return make.stdout;
}

/** The built modules of `moduleDir`, stripped, into `out`. */
export async function installModules(moduleDir: string, out: string): Promise<void> {
  fs.mkdirSync(out, { recursive: true });
  for (const name of KVM_MODULES) {
    // Stripped as Debian ships them: a third of the size, and quicker into the guest's initramfs.
    const strip = await runProgram('strip', ['--strip-debug', '-o', path.join(out, `${name}.ko`), path.join(moduleDir, `${name}.ko`)]);
    if (strip.status !== 0) throw new BuildError(`strip ${name}.ko failed: ${strip.stderr.trim()}`);
  }
}
