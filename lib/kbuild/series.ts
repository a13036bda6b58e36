// KVM modules for each prefix of a patch series (the first k patches applied in order), built in a kept
// build tree (kept-tree.ts, the watch's): moving from one prefix to another changes only the files the
// patches between them touch, so make compiles only those. Each prefix's modules land in the same
// cache entries build-kvm uses (kernel and patch contents), so a prefix built before, by either, is
// not built again.
import fs from 'node:fs';
import path from 'node:path';

import { cacheDir, cachedDirectory } from '../cache';
import { DEFAULT_KERNEL, KVM_MODULES, type DebianKernel } from '../debian/kernel';
import type { OnProgress } from '../progress';
import { complete, debianKernelToBuildFor, patchesKey, type BuiltModules } from './build';
import { KvmBuildTree, type TreeBuild } from './kept-tree';
import { checkPatchFiles } from './kvm-source';

export interface SeriesOptions {
  /** debian (default) or debian:VERSION. */
  kernel?: string;
  patches: readonly string[];
  onProgress?: OnProgress;
}

export class PatchSeriesBuilder implements Disposable {
  /** Prefixes compiled by this builder, and those found in the cache. */
  builds = 0;
  reused = 0;
  /** The kept tree's report of the last prefix this builder compiled (what changed, what make compiled). */
  lastBuild: TreeBuild | undefined;
  /** Taken at the first prefix not in the cache, held until close(). */
  private tree: KvmBuildTree | undefined;
  private closed = false;

  private constructor(private readonly kernel: DebianKernel, readonly patches: readonly string[], private readonly onProgress: OnProgress | undefined) {}

  /** Checks the toolchain and the patch files and finds the kernel; builds nothing yet. */
  static async open(options: SeriesOptions): Promise<PatchSeriesBuilder> {
    checkPatchFiles(options.patches);
    const kernel = await debianKernelToBuildFor(options.kernel ?? DEFAULT_KERNEL, 'patch series are built for Debian kernels (debian, debian:VERSION)', options.onProgress);
    return new PatchSeriesBuilder(kernel, [...options.patches], options.onProgress);
  }

  get kernelDescription(): string {
    return this.kernel.description;
  }

  /** The modules with the first `count` patches applied (0: none), built or from the cache. */
  async modules(count: number): Promise<BuiltModules> {
    if (!Number.isInteger(count) || count < 0 || count > this.patches.length) throw new RangeError(`count must be 0..${this.patches.length}, got ${count}`);
    if (this.closed) throw new Error('the patch series builder is closed');
    const prefix = this.patches.slice(0, count);
    const out = path.join(cacheDir('kvm-modules'), `${this.kernel.abi}-${patchesKey(prefix)}`);
    if (complete(out)) {
      this.reused++;
      return { dir: out, kernel: this.kernel.description, built: false };
    }
    this.tree ??= await KvmBuildTree.forKernel(this.kernel, this.onProgress);
    this.onProgress?.({ kind: 'step', text: `KVM modules for ${this.kernel.abi} ${count === 0 ? 'without patches' : `with patches 1..${count} of ${this.patches.length}`}` });
    const build = await this.tree.build(prefix);
    // Into the cache whole or not at all (another process may be building the same prefix); the
    // kept tree's own copy changes with its next build.
    fs.rmSync(out, { recursive: true, force: true });
    await cachedDirectory(out, async (tmp) => {
      for (const name of KVM_MODULES) fs.copyFileSync(path.join(build.dir, `${name}.ko`), path.join(tmp, `${name}.ko`));
    });
    this.builds++;
    this.lastBuild = build;
    return { dir: out, kernel: this.kernel.description, built: true };
  }

  /** Lets another process use the kept tree (the built modules stay in the cache). */
  close(): void {
    this.tree?.close();
    this.tree = undefined;
    this.closed = true;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
