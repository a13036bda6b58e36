// kvm-xen tree build: a small kernel tree from Debian's linux-source-6.12, built with `make` as a
// kernel developer builds theirs, for `--kernel TREE` and `build-kvm --tree TREE`. Its configuration is
// tinyconfig with the kernel's kvm_guest.config and our kernel/tree.config merged over it
// (scripts/kconfig/merge_config.sh on allnoconfig): KVM as modules with the Xen emulation, and nothing
// the VM runner does not use, so that two cores build it in minutes. Built once into the cache, keyed by
// the sources' version and the fragment's contents; the build runs under `nice -n 10`.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { cacheDir, cachedDirectory } from '../cache';
import { ensureTools } from '../debian/apt';
import { KERNEL_SOURCE, kernelSourceTarball } from '../debian/kernel';
import { newestVersion, versionDirName } from '../debian/packages';
import { projectRoot } from '../paths';
import { runProgram } from '../process';
import type { OnProgress } from '../progress';
import { describeNeed, parseKernelConfig, treeConfig, unmetNeeds } from '../vm/tree-config';
import { BuildError } from './kvm-source';
import { TREE_BUILD_TOOLS } from './toolchain';

/** Our configuration fragment, merged last. */
export const TREE_CONFIG_FRAGMENT = path.join(projectRoot, 'kernel', 'tree.config');
/** The kernel's own fragments it is merged over, in order (paths inside the tree). */
const BASE_FRAGMENTS = ['kernel/configs/tiny.config', 'kernel/configs/kvm_guest.config'];
/** What is built: the image and the modules (KVM's), nothing else. */
const TARGETS = ['bzImage', 'modules'];

export interface TreeOptions {
  /** linux-source-6.12's package version (default: the newest the package source offers). */
  version?: string;
  onProgress?: OnProgress;
}

export interface BuiltTree {
  dir: string;
  /** The package version of the sources. */
  version: string;
  /** Whether this call built it (false: reused from the cache). */
  built: boolean;
}

/** The cache key's recipe part: the fragment's contents and how it is applied. */
function recipeKey(): string {
  return crypto.createHash('sha256')
    .update(fs.readFileSync(TREE_CONFIG_FRAGMENT))
    .update(JSON.stringify({ BASE_FRAGMENTS, TARGETS }))
    .digest('hex').slice(0, 16);
}

/** The CONFIG_X=V lines of our fragment the merged .config does not have as asked. */
function unappliedLines(tree: string): string[] {
  const wanted = parseKernelConfig(fs.readFileSync(TREE_CONFIG_FRAGMENT, 'utf8'));
  const got = treeConfig(tree);
  return [...wanted].filter(([option, value]) => got.get(option) !== value).map(([option, value]) => `CONFIG_${option}=${value} (got ${got.get(option) ?? 'not set'})`);
}

async function step(what: string, onProgress: OnProgress | undefined, program: string, args: readonly string[], cwd: string): Promise<void> {
  onProgress?.({ kind: 'step', text: what });
  const result = await runProgram(program, args, { cwd });
  if (result.status !== 0) {
    throw new BuildError(`${what} failed (status ${result.status}):\n${(result.stdout + result.stderr).trim().split('\n').slice(-25).join('\n')}`);
  }
}

/** The built tree for `version`, from the cache or built now (minutes on two cores). */
export async function buildKernelTree(options: TreeOptions = {}): Promise<BuiltTree> {
  const { onProgress } = options;
  const version = options.version ?? await newestVersion(KERNEL_SOURCE);
  const dir = path.join(cacheDir('kernel-trees'), `${versionDirName(version)}-${recipeKey()}`);
  if (fs.existsSync(dir)) return { dir, version, built: false };
  await ensureTools(TREE_BUILD_TOOLS, 'building a kernel tree', onProgress);
  await cachedDirectory(dir, async (tmp) => {
    const tarball = await kernelSourceTarball(version, onProgress);
    await step(`extracting ${KERNEL_SOURCE} ${version}`, onProgress, 'tar', ['-xJf', tarball, '-C', tmp, '--strip-components=1'], tmp);
    await step('configuring: tinyconfig + kvm_guest.config + kernel/tree.config', onProgress, 'scripts/kconfig/merge_config.sh',
      ['-n', ...BASE_FRAGMENTS, TREE_CONFIG_FRAGMENT], tmp);
    const unapplied = unappliedLines(tmp);
    if (unapplied.length > 0) throw new BuildError(`kernel/tree.config asks for options the kernel's Kconfig did not take (a missing dependency):\n  ${unapplied.join('\n  ')}`);
    const unmet = unmetNeeds(treeConfig(tmp));
    if (unmet.length > 0) throw new BuildError(`kernel/tree.config does not give the VM runner what it needs:\n  ${unmet.map(describeNeed).join('\n  ')}`);
    const jobs = `-j${os.availableParallelism()}`;
    await step(`building the kernel tree (make ${jobs} ${TARGETS.join(' ')}, nice -n 10)`, onProgress, 'nice', ['-n', '10', 'make', '-s', jobs, ...TARGETS], tmp);
  });
  return { dir, version, built: true };
}
