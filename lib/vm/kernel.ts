// Which kernel to boot: `debian` (the newest Debian 6.12 amd64 image the package source offers),
// `debian:VERSION`, a bzImage file, or a built kernel tree. Debian kernels are fetched and unpacked once
// into the cache. The result says where the image is and where each of its modules is.
import fs from 'node:fs';
import path from 'node:path';

import { availableVersions, matchingPackages, PackageError, unpackedPackage, unpackedPackages } from '../debian/packages';
import { VmError } from './errors';
import { modinfo, moduleKey, readModule } from './modinfo';

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
}

/** linux-image-6.12.117+deb12-amd64-unsigned: the generic amd64 flavour (cloud-amd64 has no 9p). */
const DEBIAN_IMAGE = /^linux-image-(6\.12\.(\d+)\+deb\d+)-amd64-unsigned$/;

function indexModules(dir: string, into = new Map<string, string>()): Map<string, string> {
  if (!fs.existsSync(dir)) return into;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) indexModules(full, into);
    else if (/\.ko(\.xz)?$/.test(entry.name) && !into.has(moduleKey(entry.name))) into.set(moduleKey(entry.name), full);
  }
  return into;
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
  let header: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    header = Buffer.alloc(0x206);
    const read = fs.readSync(fd, header, 0, header.length, 0);
    fs.closeSync(fd);
    header = header.subarray(0, read);
  } catch (error) {
    throw new VmError('badKernel', `cannot read kernel image ${file}: ${(error as Error).message}`);
  }
  if (header.toString('latin1', 0x202, 0x206) !== 'HdrS') throw new VmError('badKernel', `${file} is not an x86 kernel image (no boot-protocol header)`);
}

interface DebianImage {
  name: string;
  abi: string;
  sublevel: number;
}

function debianImage(name: string): DebianImage | undefined {
  const match = DEBIAN_IMAGE.exec(name);
  return match ? { name, abi: match[1]!, sublevel: Number(match[2]) } : undefined;
}

/**
 * `wanted` is a version as a user writes it: 6.12.117, the ABI 6.12.117+deb12, or the package version
 * 6.12.117-1~deb12u1. All three name the image by its upstream version.
 */
function upstreamVersion(wanted: string): string {
  return wanted.split(/[+-]/)[0]!;
}

async function offeredImages(): Promise<DebianImage[]> {
  try {
    return (await matchingPackages('linux-image-6.12.', DEBIAN_IMAGE)).map((name) => debianImage(name)!);
  } catch (error) {
    if (error instanceof PackageError) return [];  // no apt here: only the cache can help
    throw error;
  }
}

/** The newest matching image unpacked in the cache, when the package lists cannot say (offline). */
function cachedImage(wanted: string | undefined): { image: DebianImage; version: string } | undefined {
  const cached = unpackedPackages(DEBIAN_IMAGE)
    .map((entry) => ({ image: debianImage(entry.name)!, version: entry.version }))
    .filter(({ image, version }) => wanted === undefined || (wanted.includes('-') ? version === wanted : upstreamVersion(image.abi) === upstreamVersion(wanted)))
    .sort((a, b) => a.image.sublevel - b.image.sublevel);
  return cached.pop();
}

async function debianKernel(wanted: string | undefined): Promise<KernelImage> {
  const images = (await offeredImages())
    .filter((image) => wanted === undefined || upstreamVersion(image.abi) === upstreamVersion(wanted))
    .sort((a, b) => a.sublevel - b.sublevel);
  let image = images.pop();
  let version: string | undefined;
  if (image) {
    const versions = await availableVersions(image.name);
    version = wanted?.includes('-') ? versions.find((offered) => offered === wanted) : versions[versions.length - 1];
  }
  if (!image || !version) {
    const cached = cachedImage(wanted);
    if (!cached) {
      throw new VmError('badKernel', wanted === undefined
        ? 'the package source offers no linux-image-6.12.*-amd64-unsigned and none is cached (run: apt-get update)'
        : `the package source offers no Debian kernel ${wanted} and none is cached (see: apt-cache search linux-image-6.12 | grep amd64-unsigned)`);
    }
    ({ image, version } = cached);
  }
  const root = await unpackedPackage(image.name, version);
  const release = `${image.abi}-amd64`;
  const bzImage = path.join(root, 'boot', `vmlinuz-${release}`);
  checkBzImage(bzImage);
  return {
    description: `Debian ${release} (${version})`,
    bzImage,
    modules: indexModules(path.join(root, 'lib', 'modules', release)),
    debianVersion: version,
    debianAbi: image.abi,
  };
}

export async function resolveKernel(spec: string): Promise<KernelImage> {
  if (spec === 'debian') return debianKernel(undefined);
  if (spec.startsWith('debian:')) return debianKernel(spec.slice('debian:'.length));
  if (!fs.existsSync(spec)) throw new VmError('badKernel', `kernel ${spec} does not exist (use debian, debian:VERSION, a bzImage or a kernel tree)`);
  if (fs.statSync(spec).isDirectory()) {
    const bzImage = path.join(spec, 'arch', 'x86', 'boot', 'bzImage');
    if (!fs.existsSync(bzImage)) throw new VmError('badKernel', `${spec} is a directory but not a built kernel tree (no arch/x86/boot/bzImage)`);
    checkBzImage(bzImage);
    return { description: `kernel tree ${path.resolve(spec)}`, bzImage, modules: treeModules(spec) };
  }
  checkBzImage(spec);
  return { description: `bzImage ${path.resolve(spec)}`, bzImage: spec, modules: new Map() };
}

const KVM_MODULES = ['kvm', 'kvm_amd', 'kvm_intel'];

/** "6.12.117+deb12-amd64 SMP preempt mod_unload modversions " names the kernel a module was built for. */
function vermagic(file: string): string {
  return modinfo(readModule(file), file).get('vermagic') ?? '';
}

/**
 * Replaces the kernel's own KVM modules with a directory's kvm.ko / kvm-amd.ko / kvm-intel.ko. Modules
 * built for another kernel are refused here, before a boot, with both kernels' names.
 */
export function withKvmModules(kernel: KernelImage, dir: string): KernelImage {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new VmError('badKernel', `--kvm-modules ${dir} is not a directory`);
  const found = indexModules(dir);
  const kvm = KVM_MODULES.filter((name) => found.has(name));
  if (!kvm.includes('kvm')) throw new VmError('badKernel', `--kvm-modules ${dir} has no kvm.ko`);
  const own = kernel.modules.get('kvm');
  if (own) {
    const expected = vermagic(own);
    for (const name of kvm) {
      const theirs = vermagic(found.get(name)!);
      if (theirs !== expected) {
        throw new VmError('badKernel', `${found.get(name)} was built for "${theirs.trim()}", but the kernel (${kernel.description}) is "${expected.trim()}"`);
      }
    }
  }
  const modules = new Map(kernel.modules);
  for (const name of kvm) modules.set(name, found.get(name)!);
  return { ...kernel, description: `${kernel.description} with KVM modules from ${path.resolve(dir)}`, modules };
}
