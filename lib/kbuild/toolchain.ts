// What building KVM's modules out of tree runs on the host, checked before anything is fetched or
// built (a missing pahole used to end the build with make's status 127 after two minutes). From
// Debian's 6.12 headers: .kernelvariables sets CC to $(CROSS_COMPILE)gcc-12 with CROSS_COMPILE
// x86_64-linux-gnu-; the common Makefile calls $(CROSS_COMPILE)ld/ar/nm/objcopy/objdump/readelf,
// Makefile.modfinal runs pahole for the modules' BTF (CONFIG_DEBUG_INFO_BTF_MODULES), and
// linux-kbuild's prebuilt objtool and resolve_btfids link libelf and zlib (the package's Depends:
// libelf1, zlib1g, pahole; the headers' Depends: gcc-12). flex, bison, bc and perl only build the
// kernel itself or kbuild's host programs, which linux-kbuild ships built. Our own steps add tar, xz
// (the source tarball), patch and strip.
import type { OnProgress } from '../progress';
import fs from 'node:fs';

import { ensureTools, type HostTool, libraryTool, programTool } from '../debian/apt';

const CROSS = 'x86_64-linux-gnu-';
const BINUTILS = ['ld', 'ar', 'nm', 'objcopy', 'objdump', 'readelf', 'strip'];

export const KBUILD_TOOLS: readonly HostTool[] = [
  programTool('make', 'make'),
  programTool(`${CROSS}gcc-12`, 'gcc-12'),
  ...BINUTILS.map((tool) => programTool(`${CROSS}${tool}`, 'binutils')),
  programTool('pahole', 'pahole'),
  libraryTool('libelf.so.1', 'libelf1'),
  libraryTool('libz.so.1', 'zlib1g'),
  programTool('patch', 'patch'),
  programTool('tar', 'tar'),
  programTool('xz', 'xz-utils'),
  programTool('strip', 'binutils'),
];

/** Installs what build-kvm needs if it may, else throws MissingPackages with the apt-get line. */
export function ensureKbuildTools(onProgress?: OnProgress): Promise<void> {
  return ensureTools(KBUILD_TOOLS, 'build-kvm', onProgress);
}

/** A C header under /usr/include, from its -dev package. */
function headerTool(file: string, pkg: string): HostTool {
  return { name: `/usr/include/${file}`, package: pkg, present: () => fs.existsSync(`/usr/include/${file}`) };
}

/**
 * What building a kernel tree itself runs (lib/kbuild/tree.ts): the host's gcc and binutils, flex and
 * bison for kconfig and the dtc/genksyms parsers, bc for the timeconst header, perl for the build's
 * scripts, libelf's headers for objtool (every x86_64 build runs it), xz for the compressed bzImage
 * (tiny.config's KERNEL_XZ), tar and xz for the source tarball. No openssl: the small config signs no
 * modules and has no trusted keys.
 */
export const TREE_BUILD_TOOLS: readonly HostTool[] = [
  programTool('make', 'make'),
  programTool('gcc', 'gcc'),
  ...BINUTILS.map((tool) => programTool(tool, 'binutils')),
  programTool('flex', 'flex'),
  programTool('bison', 'bison'),
  programTool('bc', 'bc'),
  programTool('perl', 'perl-base'),
  headerTool('gelf.h', 'libelf-dev'),
  programTool('tar', 'tar'),
  programTool('xz', 'xz-utils'),
];

/**
 * What building KVM's modules against a built tree runs (build-kvm --tree): the tree's own kbuild
 * programs are already built, so only the compiler and binutils it was made with, and patch.
 */
export const TREE_MODULE_TOOLS: readonly HostTool[] = [
  programTool('make', 'make'),
  programTool('gcc', 'gcc'),
  ...BINUTILS.map((tool) => programTool(tool, 'binutils')),
  programTool('patch', 'patch'),
];
