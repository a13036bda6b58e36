// Which kernel to boot: `debian` or `debian:VERSION` (lib/debian finds, fetches and unpacks it), a
// bzImage file, or a built kernel tree. The result says where the image is and where each of its
// modules is.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { debianKernel, debianKernelSpec, KernelNotFound, KVM_MODULES } from '../debian/kernel';
import { CorruptPackage } from '../debian/packages';
import type { OnProgress } from '../progress';
import { VmError } from './errors';
import { modinfo, moduleKey, readModule } from './modinfo';
import { treeConfig } from './tree-config';

export interface KernelImage {
  /** What the user asked for, resolved: "Debian 6.12.117+deb12-amd64 (6.12.117-1~deb12u1)". */
  description: string;
  bzImage: string;
  /** Loadable modules by name (kvm_amd, 9p, ...); a name absent here is built in or unavailable. */
  modules: Map<string, string>;
  /** For a Debian kernel: its package version (e.g. 6.12.117-1~deb12u1), which its sources share. */
  debianVersion?: string;
  /** For a Debian kernel: its ABI name (e.g. 6.12.117+deb12), which its headers packages carry. */
  debianAbi?: string;
  /** For a kernel tree built with make: its directory (its .config says what the kernel has). */
  tree?: string;
}

function indexModules(dir: string, into = new Map<string, string>()): Map<string, string> {
  if (!fs.existsSync(dir)) return into;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) indexModules(full, into);
    else if (/\.ko(\.xz)?$/.test(entry.name) && !into.has(moduleKey(entry.name))) into.set(moduleKey(entry.name), full);
  }
  return into;
}

/**
 * A Debian package's modules from its modules.order, which names each one (as .ko; the package ships
 * .ko.xz): a walk of its 4,000 files cost 0.1-2 s of every run on a loaded host.
 */
function packagedModules(dir: string): Map<string, string> {
  const order = path.join(dir, 'modules.order');
  if (!fs.existsSync(order)) return indexModules(dir);
  const modules = new Map<string, string>();
  const lines = fs.readFileSync(order, 'utf8').split('\n').filter(Boolean);
  const suffix = lines[0] !== undefined && fs.existsSync(path.join(dir, `${lines[0]}.xz`)) ? '.xz' : '';
  for (const line of lines) {
    const key = moduleKey(path.basename(line));
    if (!modules.has(key)) modules.set(key, path.join(dir, line + suffix));
  }
  return modules;
}

/** A built tree's modules from its modules.order (walking a whole tree takes seconds). */
function treeModules(tree: string): Map<string, string> {
  const order = path.join(tree, 'modules.order');
  if (!fs.existsSync(order)) return indexModules(tree);
  const modules = new Map<string, string>();
  for (const line of fs.readFileSync(order, 'utf8').split('\n').filter(Boolean)) {
    const file = path.join(tree, line.replace(/\.o$/, '.ko'));
    if (fs.existsSync(file)) modules.set(moduleKey(path.basename(file)), file);
  }
  return modules;
}

/** A bzImage carries "HdrS" at 0x202 (the x86 boot protocol header). */
function checkBzImage(file: string): void {
  let header = Buffer.alloc(0x206);
  try {
    const fd = fs.openSync(file, 'r');
    try {
      header = header.subarray(0, fs.readSync(fd, header, 0, header.length, 0));
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    throw new VmError('badKernel', `cannot read kernel image ${file}: ${(error as Error).message}`);
  }
  if (header.toString('latin1', 0x202, 0x206) !== 'HdrS') throw new VmError('badKernel', `${file} is not an x86 kernel image (no boot-protocol header)`);
}

async function debianKernelImage(version: string | undefined, onProgress: OnProgress | undefined): Promise<KernelImage> {
  let kernel;
  try {
    kernel = await debianKernel(version, onProgress);
  } catch (error) {
    if (error instanceof KernelNotFound || error instanceof CorruptPackage) throw new VmError('badKernel', error.message);
    throw error;
  }
  checkBzImage(kernel.bzImage);
  return {
    description: kernel.description,
    bzImage: kernel.bzImage,
    modules: packagedModules(kernel.moduleDir),
    debianVersion: kernel.version,
    debianAbi: kernel.abi,
  };
}

export async function resolveKernel(spec: string, onProgress?: OnProgress): Promise<KernelImage> {
  const debian = debianKernelSpec(spec);
  if (debian) return debianKernelImage(debian.version, onProgress);
  if (!fs.existsSync(spec)) throw new VmError('badKernel', `kernel ${spec} does not exist (use debian, debian:VERSION, a bzImage or a kernel tree)`);
  if (fs.statSync(spec).isDirectory()) {
    const bzImage = path.join(spec, 'arch', 'x86', 'boot', 'bzImage');
    if (!fs.existsSync(bzImage)) throw new VmError('badKernel', `${spec} is a directory but not a built kernel tree (no arch/x86/boot/bzImage)`);
    checkBzImage(bzImage);
    return { description: `kernel tree ${path.resolve(spec)}`, bzImage, modules: treeModules(spec), tree: path.resolve(spec) };
  }
  checkBzImage(spec);
  return { description: `bzImage ${path.resolve(spec)}`, bzImage: spec, modules: new Map() };
}

/** "6.12.117+deb12-amd64 SMP preempt mod_unload modversions " names the kernel a module was built for. */
function vermagic(file: string): string {
  return modinfo(readModule(file), file).get('vermagic') ?? '';
}

/** A KVM module --kvm-modules takes, with what identifies its build. */
export interface KvmModuleFile {
  /** The module's name (kvm, kvm_amd, kvm_intel). */
  name: string;
  file: string;
  /** The file's SHA-256, in hex. */
  sha256: string;
}

/**
 * Where --kvm-modules DIR's modules may be, not searched deeper: DIR itself (what build-kvm writes), or
 * DIR/arch/x86/kvm (a built kernel tree).
 */
const KVM_MODULE_PLACES = ['.', path.join('arch', 'x86', 'kvm')];
const MODULE_SUFFIXES = ['.ko', '.ko.xz'];

/** The KVM modules of one place: refuses two files for one module (kvm.ko and kvm.ko.xz). */
function kvmModulesIn(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const module of KVM_MODULES) {
    const files = MODULE_SUFFIXES.map((suffix) => path.join(dir, `${module}${suffix}`)).filter((file) => fs.existsSync(file));
    if (files.length > 1) throw new VmError('usage', `--kvm-modules: both ${files.join(' and ')} are there; keep one`);
    if (files[0]) found.set(moduleKey(path.basename(files[0])), files[0]);
  }
  return found;
}

/** Subdirectories of `dir` with a kvm.ko of their own: what the user may have meant. */
function kvmSubdirectories(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && MODULE_SUFFIXES.some((suffix) => fs.existsSync(path.join(dir, entry.name, `kvm${suffix}`))))
    .map((entry) => path.join(dir, entry.name));
}

/**
 * The KVM modules of --kvm-modules DIR: kvm.ko (required), kvm-amd.ko, kvm-intel.ko (or .ko.xz), from
 * DIR itself or DIR/arch/x86/kvm. Refuses modules in both places, or none, naming the files.
 */
export function kvmModuleFiles(dir: string): KvmModuleFile[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new VmError('badKernel', `--kvm-modules ${dir} is not a directory`);
  const places = KVM_MODULE_PLACES.map((place) => ({ dir: path.join(dir, place), modules: kvmModulesIn(path.join(dir, place)) }))
    .filter((place) => place.modules.size > 0);
  if (places.length > 1) {
    throw new VmError('usage', `--kvm-modules ${dir} is ambiguous: it has KVM modules both in ${places.map((place) => place.dir).join(' and in ')}; name the one directory`);
  }
  const modules = places[0]?.modules;
  if (!modules?.has('kvm')) {
    const looked = KVM_MODULE_PLACES.map((place) => path.join(dir, place, 'kvm.ko')).join(' or ');
    const hint = kvmSubdirectories(dir);
    throw new VmError('badKernel', `--kvm-modules ${dir} has no kvm.ko (looked for ${looked}, or .ko.xz)${hint.length ? `; these directories have one: ${hint.join(', ')}` : ''}`);
  }
  return [...modules].map(([name, file]) => ({ name, file, sha256: crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex') }));
}

/**
 * Replaces the kernel's own KVM modules with --kvm-modules DIR's (kvmModuleFiles). Modules built for
 * another kernel are refused here, before a boot, with both kernels' names.
 */
export function withKvmModules(kernel: KernelImage, dir: string): KernelImage & { kvmModules: KvmModuleFile[] } {
  if (kernel.tree && treeConfig(kernel.tree).get('KVM') === 'y') throw new VmError('badKernel', `--kvm-modules: KVM is built into ${kernel.description} (CONFIG_KVM=y); build it with CONFIG_KVM=m to load other KVM modules`);
  const kvm = kvmModuleFiles(dir);
  const own = kernel.modules.get('kvm');
  if (own) {
    const expected = vermagic(own);
    for (const { file } of kvm) {
      const theirs = vermagic(file);
      if (theirs !== expected) {
        throw new VmError('badKernel', `${file} was built for "${theirs.trim()}", but the kernel (${kernel.description}) is "${expected.trim()}"`);
      }
    }
  }
  const modules = new Map(kernel.modules);
  for (const { name, file } of kvm) modules.set(name, file);
  return { ...kernel, description: `${kernel.description} with KVM modules from ${path.resolve(dir)}`, modules, kvmModules: kvm };
}
