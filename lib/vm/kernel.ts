// Which kernel to boot: `debian` (the newest Debian 6.12 amd64 image the package source offers),
// `debian:VERSION`, a bzImage file, or a built kernel tree. Debian kernels are fetched and unpacked once
// into the cache. The result says where the image is and where each of its modules is.
import fs from 'node:fs';
import path from 'node:path';

import { matchingPackages, newestVersion, unpackedPackage } from '../debian/packages';
import { VmError } from './errors';
import { moduleKey } from './modinfo';

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

/** A bzImage carries "HdrS" at 0x202 (the x86 boot protocol header). */
function checkBzImage(file: string): void {
  let header: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    header = Buffer.alloc(0x206);
    fs.readSync(fd, header, 0, header.length, 0);
    fs.closeSync(fd);
  } catch (error) {
    throw new VmError('badKernel', `cannot read kernel image ${file}: ${(error as Error).message}`);
  }
  if (header.toString('latin1', 0x202, 0x206) !== 'HdrS') throw new VmError('badKernel', `${file} is not an x86 kernel image (no boot-protocol header)`);
}

async function debianKernel(abi: string | undefined): Promise<KernelImage> {
  const names = await matchingPackages('linux-image-6.12.', DEBIAN_IMAGE);
  const wanted = abi === undefined
    ? names.sort((a, b) => Number(DEBIAN_IMAGE.exec(a)![2]) - Number(DEBIAN_IMAGE.exec(b)![2])).pop()
    : names.find((name) => { const m = DEBIAN_IMAGE.exec(name)!; return m[1] === abi || m[1]!.startsWith(`${abi}+`); });
  if (!wanted) {
    throw new VmError('badKernel', abi === undefined
      ? 'the package source offers no linux-image-6.12.*-amd64-unsigned (run apt-get update?)'
      : `the package source offers no Debian kernel ${abi} (linux-image-${abi}*-amd64-unsigned); see apt-cache pkgnames linux-image-6.12`);
  }
  const version = await newestVersion(wanted);
  const root = await unpackedPackage(wanted, version);
  const release = `${DEBIAN_IMAGE.exec(wanted)![1]}-amd64`;
  const bzImage = path.join(root, 'boot', `vmlinuz-${release}`);
  checkBzImage(bzImage);
  return { description: `Debian ${release} (${version})`, bzImage, modules: indexModules(path.join(root, 'lib', 'modules', release)), debianVersion: version, debianAbi: DEBIAN_IMAGE.exec(wanted)![1]! };
}

export async function resolveKernel(spec: string): Promise<KernelImage> {
  if (spec === 'debian') return debianKernel(undefined);
  if (spec.startsWith('debian:')) return debianKernel(spec.slice('debian:'.length));
  if (!fs.existsSync(spec)) throw new VmError('badKernel', `kernel ${spec} does not exist (use debian, debian:VERSION, a bzImage or a kernel tree)`);
  if (fs.statSync(spec).isDirectory()) {
    const bzImage = path.join(spec, 'arch', 'x86', 'boot', 'bzImage');
    if (!fs.existsSync(bzImage)) throw new VmError('badKernel', `${spec} is a directory but not a built kernel tree (no arch/x86/boot/bzImage)`);
    checkBzImage(bzImage);
    return { description: `kernel tree ${path.resolve(spec)}`, bzImage, modules: indexModules(spec) };
  }
  checkBzImage(spec);
  return { description: `bzImage ${path.resolve(spec)}`, bzImage: spec, modules: new Map() };
}

/** Replaces the kernel's own KVM modules with a directory's kvm.ko / kvm-amd.ko / kvm-intel.ko. */
export function withKvmModules(kernel: KernelImage, dir: string): KernelImage {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new VmError('badKernel', `--kvm-modules ${dir} is not a directory`);
  const found = indexModules(dir);
  const kvm = [...found.keys()].filter((name) => name === 'kvm' || name === 'kvm_amd' || name === 'kvm_intel');
  if (!kvm.includes('kvm')) throw new VmError('badKernel', `--kvm-modules ${dir} has no kvm.ko`);
  const modules = new Map(kernel.modules);
  for (const name of kvm) modules.set(name, found.get(name)!);
  return { ...kernel, description: `${kernel.description} with KVM modules from ${path.resolve(dir)}`, modules };
}
