// Debian's kernels and kernel sources by version: which linux-image-6.12.*-amd64-unsigned to use for
// `debian` or `debian:VERSION` (the newest the package source offers, else the newest in the cache
// when the package lists cannot say), unpacked once into the cache; and linux-source-6.12 of a version.
import path from 'node:path';

import type { OnProgress } from '../progress';
import { ProgramError } from '../process';
import { mayChangeHost, refreshPackageLists } from './apt';
import { availableVersions, matchingPackages, PackageError, unpackedPackage, unpackedPackages } from './packages';

/** The kernel every caller boots or builds for when it names none. */
export const DEFAULT_KERNEL = 'debian';

/** KVM's modules as Debian ships them (and as lib/kbuild builds them). */
export const KVM_MODULES = ['kvm', 'kvm-amd', 'kvm-intel'] as const;

/** Debian's kernel sources, a tarball holding the tree under a directory of the same name. */
export const KERNEL_SOURCE = 'linux-source-6.12';

/**
 * A kernel as a user names it: `debian` (version undefined) or `debian:VERSION` are Debian kernels;
 * anything else (a bzImage, a kernel tree) is not, and gives undefined.
 */
export function debianKernelSpec(spec: string): { version: string | undefined } | undefined {
  if (spec === DEFAULT_KERNEL) return { version: undefined };
  if (spec.startsWith('debian:')) return { version: spec.slice('debian:'.length) };
  return undefined;
}

/** The package source offers no such kernel, and none is cached. */
export class KernelNotFound extends PackageError {
  constructor(message: string) {
    super(message);
    this.name = 'KernelNotFound';
  }
}

export interface DebianKernel {
  /** "Debian 6.12.117+deb12-amd64 (6.12.117-1~deb12u1)". */
  description: string;
  bzImage: string;
  /** lib/modules/RELEASE of the unpacked image. */
  moduleDir: string;
  /** Its package version (e.g. 6.12.117-1~deb12u1), which its sources share. */
  version: string;
  /** Its ABI name (e.g. 6.12.117+deb12), which its headers packages carry. */
  abi: string;
}

/** linux-image-6.12.117+deb12-amd64-unsigned: the generic amd64 flavour (cloud-amd64 has no 9p). */
const DEBIAN_IMAGE = /^linux-image-(6\.12\.(\d+)\+deb\d+)-amd64-unsigned$/;

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
    if (error instanceof PackageError || error instanceof ProgramError) return [];  // no apt here: only the cache can help
    throw error;
  }
}

/** The upstream versions (6.12.107, ...) of the Debian 6.12 amd64 kernels the package source offers, oldest first. */
export async function offeredKernelVersions(): Promise<string[]> {
  return (await offeredImages()).sort((a, b) => a.sublevel - b.sublevel).map((image) => upstreamVersion(image.abi));
}

/** The newest matching image unpacked in the cache, when the package lists cannot say (offline). */
function cachedImage(wanted: string | undefined): { image: DebianImage; version: string } | undefined {
  const cached = unpackedPackages(DEBIAN_IMAGE)
    .map((entry) => ({ image: debianImage(entry.name)!, version: entry.version }))
    .filter(({ image, version }) => wanted === undefined || (wanted.includes('-') ? version === wanted : upstreamVersion(image.abi) === upstreamVersion(wanted)))
    .sort((a, b) => a.image.sublevel - b.image.sublevel);
  return cached.pop();
}

/** The newest offered image of version `wanted` (any if undefined) and its package version. */
async function offeredImage(wanted: string | undefined): Promise<{ image: DebianImage; version: string } | undefined> {
  const images = (await offeredImages())
    .filter((image) => wanted === undefined || upstreamVersion(image.abi) === upstreamVersion(wanted))
    .sort((a, b) => a.sublevel - b.sublevel);
  const image = images.pop();
  if (!image) return undefined;
  const versions = await availableVersions(image.name);
  const version = wanted?.includes('-') ? versions.find((offered) => offered === wanted) : versions[versions.length - 1];
  return version ? { image, version } : undefined;
}

/**
 * The Debian 6.12 amd64 kernel of version `wanted` (the newest if undefined), unpacked in the cache.
 * Neither offered nor cached: the package lists may be stale (a fresh machine), so they are refreshed
 * once (as root) and asked again.
 */
export async function debianKernel(wanted: string | undefined, onProgress?: OnProgress): Promise<DebianKernel> {
  const what = wanted === undefined ? 'linux-image-6.12.*-amd64-unsigned' : `Debian kernel ${wanted}`;
  let found = (await offeredImage(wanted)) ?? cachedImage(wanted);
  if (!found && (await refreshPackageLists(`offer no ${what} and none is cached`, onProgress))) found = await offeredImage(wanted);
  if (!found) {
    const hint = wanted === undefined
      ? (mayChangeHost() ? 'even after apt-get update' : '(run: apt-get update)')
      : '(see: apt-cache search linux-image-6.12 | grep amd64-unsigned)';
    throw new KernelNotFound(`the package source offers no ${what} and none is cached ${hint}`);
  }
  const { image, version } = found;
  const root = await unpackedPackage(image.name, version, onProgress);
  const release = `${image.abi}-amd64`;
  return {
    description: `Debian ${release} (${version})`,
    bzImage: path.join(root, 'boot', `vmlinuz-${release}`),
    moduleDir: path.join(root, 'lib', 'modules', release),
    version,
    abi: image.abi,
  };
}

/** The tarball of Debian's kernel sources of a package version, unpacked from its package once. */
export async function kernelSourceTarball(version: string, onProgress?: OnProgress): Promise<string> {
  const source = await unpackedPackage(KERNEL_SOURCE, version, onProgress);
  return path.join(source, 'usr', 'src', `${KERNEL_SOURCE}.tar.xz`);
}
