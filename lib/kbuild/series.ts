// KVM modules for each prefix of a patch series (the first k patches applied in order), built in one
// work tree that moves from prefix to prefix by applying or taking out patches: make then compiles
// only the files those patches touched. Each prefix's modules land in the same cache entries
// build-kvm uses (kernel and patch contents), so a prefix built before, by either, is not built again.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { cacheDir, cachedDirectory } from '../cache';
import { DEFAULT_KERNEL, KERNEL_SOURCE, type DebianKernel } from '../debian/kernel';
import type { OnProgress } from '../progress';
import { complete, debianKernelToBuildFor, installModules, makeModules, patchesKey, type BuiltModules } from './build';
import { headersTree } from './headers';
import { applyPatch, checkPatchFiles, debianKvmSources, preparedSources } from './kvm-source';

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
  private work: string | undefined;
  private moduleDir: string | undefined;
  private headers: string | undefined;
  /** How many patches the work tree has applied. */
  private applied = 0;
  private closed = false;

  private constructor(private readonly kernel: DebianKernel, readonly patches: readonly string[], private readonly onProgress: OnProgress | undefined) {}

  /** Checks the toolchain and the patch files and finds the kernel; builds nothing yet. */
  static async open(options: SeriesOptions): Promise<PatchSeriesBuilder> {
    checkPatchFiles(options.patches);
    const kernel = await debianKernelToBuildFor(options.kernel ?? DEFAULT_KERNEL, 'patch series are built for Debian kernels (debian, debian:VERSION)', options.onProgress);
    return new PatchSeriesBuilder(kernel, [...options.patches], options.onProgress);
  }

  private get sourcesName(): string {
    return `${KERNEL_SOURCE} ${this.kernel.version}`;
  }

  get kernelDescription(): string {
    return this.kernel.description;
  }

  /** The modules with the first `count` patches applied (0: none), built or from the cache. */
  async modules(count: number): Promise<BuiltModules> {
    if (!Number.isInteger(count) || count < 0 || count > this.patches.length) throw new RangeError(`count must be 0..${this.patches.length}, got ${count}`);
    const prefix = this.patches.slice(0, count);
    const out = path.join(cacheDir('kvm-modules'), `${this.kernel.abi}-${patchesKey(prefix)}`);
    if (complete(out)) {
      this.reused++;
      return { dir: out, kernel: this.kernel.description, built: false };
    }
    const moduleDir = await this.checkout(count);
    this.onProgress?.({ kind: 'step', text: `building KVM modules for ${this.kernel.abi} ${count === 0 ? 'without patches' : `with patches 1..${count} of ${this.patches.length}`}` });
    await makeModules(this.headers ??= await headersTree(this.kernel.abi, this.onProgress), moduleDir);
    // Into the cache whole or not at all: another process may be building the same prefix.
    fs.rmSync(out, { recursive: true, force: true });
    await cachedDirectory(out, (tmp) => installModules(moduleDir, tmp));
    this.builds++;
    return { dir: out, kernel: this.kernel.description, built: true };
  }

  /** The work tree with exactly the first `count` patches applied; returns its module directory. */
  private async checkout(count: number): Promise<string> {
    if (this.closed) throw new Error('the patch series builder is closed');
    if (this.work === undefined) {
      this.work = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-series-'));
      this.moduleDir = await preparedSources(await debianKvmSources(this.kernel.version, this.onProgress), [], this.work);
    }
    for (; this.applied < count; this.applied++) await applyPatch(this.work, this.patches[this.applied]!, this.sourcesName);
    for (; this.applied > count; this.applied--) await applyPatch(this.work, this.patches[this.applied - 1]!, this.sourcesName, true);
    return this.moduleDir!;
  }

  /** Removes the work tree (the built modules stay in the cache). */
  close(): void {
    if (this.work !== undefined) fs.rmSync(this.work, { recursive: true, force: true });
    this.work = undefined;
    this.closed = true;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
