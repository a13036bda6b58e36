// The kernel's own C xen_shinfo_test, built from Debian's kernel sources (the same version as the
// kernel it runs on) with the kernel's selftest Makefile, once per version, in the cache. Nothing of it
// is committed: it is the baseline the port is measured (bench/shinfo.ts) and checked
// (test/kernel-faults.test.ts) against.
import fs from 'node:fs';
import path from 'node:path';

import { cacheDir, cachedDirectory } from '../cache';
import { KERNEL_SOURCE, kernelSourceTarball } from '../debian/kernel';
import { versionDirName } from '../debian/packages';
import { projectRoot } from '../paths';
import { runProgram } from '../process';
import type { OnProgress } from '../progress';

async function step(what: string, onProgress: OnProgress | undefined, program: string, args: string[], cwd?: string): Promise<void> {
  onProgress?.({ kind: 'step', text: what });
  const result = await runProgram(program, args, cwd ? { cwd } : {});
  if (result.status !== 0) throw new Error(`${what} failed:\n${(result.stderr || result.stdout).trim().split('\n').slice(-15).join('\n')}`);
}

/** Path of the built C test for a Debian package version (e.g. 6.12.117-1~deb12u1). */
export async function upstreamShinfoTest(version: string, onProgress?: OnProgress): Promise<string> {
  const dir = path.join(cacheDir('upstream-selftests'), versionDirName(version));
  await cachedDirectory(dir, async (tmp) => {
    const tarball = await kernelSourceTarball(version, onProgress);
    // Only what the headers and the KVM selftests need from the tree.
    const parts = ['tools', 'include', 'arch/x86', 'scripts', 'Makefile', 'Kbuild', 'Kconfig'].map((p) => `${KERNEL_SOURCE}/${p}`);
    await step(`extracting ${KERNEL_SOURCE} ${version}`, onProgress, 'tar', ['-xJf', tarball, '-C', tmp, ...parts]);
    const tree = path.join(tmp, KERNEL_SOURCE);
    await step('make headers', onProgress, 'make', ['-C', tree, 'headers', '-j2']);
    const selftests = path.join(tree, 'tools', 'testing', 'selftests', 'kvm');
    // 6.12 keeps the x86 tests in x86_64/ (renamed x86/ in 6.13).
    const subdir = fs.existsSync(path.join(selftests, 'x86_64')) ? 'x86_64' : 'x86';
    const out = path.join(tmp, 'out');
    await step('building xen_shinfo_test', onProgress, 'make', ['-C', selftests, '-j2', `OUTPUT=${out}`, path.join(out, subdir, 'xen_shinfo_test')]);
    fs.copyFileSync(path.join(out, subdir, 'xen_shinfo_test'), path.join(tmp, 'xen_shinfo_test'));
    fs.rmSync(tree, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
  });
  return path.join(dir, 'xen_shinfo_test');
}

/**
 * The same test copied into the project's build/ directory, which the VM runner always shows the guest
 * (the cache may not be: a cache under /tmp is hidden by the guest's own /tmp).
 */
export async function upstreamShinfoTestForGuest(version: string, onProgress?: OnProgress): Promise<string> {
  const cached = await upstreamShinfoTest(version, onProgress);
  const copy = path.join(projectRoot, 'build', 'upstream', versionDirName(version), 'xen_shinfo_test');
  fs.mkdirSync(path.dirname(copy), { recursive: true });
  fs.copyFileSync(cached, copy);
  return copy;
}
