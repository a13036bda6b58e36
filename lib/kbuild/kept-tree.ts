// A KVM build tree kept between builds, for an edit-build-test loop (lib/watch) and a bisect's patch
// prefixes (series.ts): each build applies the patches to fresh sources, as build-kvm does, but copies
// into the kept tree only the files whose contents changed, so make recompiles only those (one file of
// a one-line change: seconds, where build-kvm's fresh tree takes minutes). Trees live in the cache, a
// few per kernel ABI, each held by one process at a time (a lock file naming its owner, taken over
// once that owner is gone).
import fs from 'node:fs';
import path from 'node:path';

import { cacheDir } from '../cache';
import { DEFAULT_KERNEL, type DebianKernel } from '../debian/kernel';
import { ownerAlive, ownerRecord } from '../process';
import type { OnProgress } from '../progress';
import { debianKernelToBuildFor, installModules, makeModules } from './build';
import { headersTree } from './headers';
import { BuildError, checkPatchFiles, debianKvmSources, preparedSources } from './kvm-source';

/** Trees per kernel ABI: as many watchers of one kernel can build at once. */
const SLOTS = 4;

export interface TreeBuild {
  /** The stripped modules, as --kvm-modules and GuestSession.reloadKvmModules take them. */
  dir: string;
  /** Source files (relative to the tree) that differed from the previous build's. */
  changedSources: string[];
  /** The objects make compiled, relative to the tree. */
  compiled: string[];
  durationMs: number;
}

/** Every file and directory under `dir`, relative to it (directories end in a slash). */
function entriesUnder(dir: string, prefix = ''): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(prefix, entry.name);
    return entry.isDirectory() ? [`${relative}/`, ...entriesUnder(path.join(dir, entry.name), relative)] : [relative];
  });
}

function sameContents(a: string, b: string): boolean {
  try {
    return fs.readFileSync(a).equals(fs.readFileSync(b));
  } catch {
    return false;
  }
}

/** Takes `lock` for us if it is free or its owner is gone; false if a live process holds it. */
function tryLock(lock: string): boolean {
  for (;;) {
    try {
      fs.writeFileSync(lock, ownerRecord(), { flag: 'wx' });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let owner = '';
    try {
      owner = fs.readFileSync(lock, 'utf8');
    } catch {
      continue;  // released meanwhile
    }
    // A lock file still being written reads as empty: its owner is alive, try the next slot.
    if (owner === '' || ownerAlive(owner)) return false;
    fs.rmSync(lock, { force: true });
  }
}

export class KvmBuildTree {
  private closed = false;

  private constructor(readonly root: string, private readonly lock: string, readonly kernel: DebianKernel,
    private readonly headers: string, private readonly onProgress: OnProgress | undefined) {}

  /** A tree for `kernel` (debian, debian:VERSION) held by this process until close(). */
  static async open(options: { kernel?: string; onProgress?: OnProgress } = {}): Promise<KvmBuildTree> {
    const kernel = await debianKernelToBuildFor(options.kernel ?? DEFAULT_KERNEL, 'a watch builds for Debian kernels (debian, debian:VERSION)', options.onProgress);
    return KvmBuildTree.forKernel(kernel, options.onProgress);
  }

  /** A tree for a Debian kernel already resolved (debianKernelToBuildFor), held until close(). */
  static async forKernel(kernel: DebianKernel, onProgress?: OnProgress): Promise<KvmBuildTree> {
    const headers = await headersTree(kernel.abi, onProgress);
    const parent = cacheDir('kbuild');
    for (let slot = 0; slot < SLOTS; slot++) {
      const root = path.join(parent, `tree-${kernel.abi}-${slot}`);
      const lock = `${root}.lock`;
      if (tryLock(lock)) return new KvmBuildTree(root, lock, kernel, headers, onProgress);
    }
    throw new BuildError(`all ${SLOTS} KVM build trees for ${kernel.abi} in ${parent} are in use by other processes`);
  }

  /** Builds the modules with `patches`, recompiling only what changed since this tree's last build. */
  async build(patches: readonly string[], signal?: AbortSignal): Promise<TreeBuild> {
    if (this.closed) throw new BuildError('the build tree is closed');
    const started = Date.now();
    checkPatchFiles(patches);
    const staging = path.join(this.root, 'staging');
    const src = path.join(this.root, 'src');
    await preparedSources(await debianKvmSources(this.kernel.version, this.onProgress), patches, staging);
    const changedSources = this.sync(staging, src);
    this.onProgress?.({ kind: 'step', text: `building KVM modules for ${this.kernel.abi} in ${src} (${changedSources.length} source file(s) changed)` });
    const out = path.join(this.root, 'modules');
    const moduleDir = path.join(src, 'arch', 'x86', 'kvm');
    const made = await makeModules(this.headers, moduleDir, signal);
    await installModules(moduleDir, out);
    const compiled = [...made.matchAll(/^\s*CC \[M\]\s+(\S+)$/gm)].map((match) => path.relative(src, match[1]!));
    return { dir: out, changedSources, compiled, durationMs: Date.now() - started };
  }

  /** Lets another process use the tree. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.rmSync(this.lock, { force: true });
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Makes the kept sources equal to the fresh ones, touching only the files that differ (so their
   * times say "changed" to make) and removing those the patches no longer create; returns them.
   */
  private sync(from: string, to: string): string[] {
    const manifest = path.join(this.root, 'sources.json');
    const entries = entriesUnder(from);
    // Directories too: an empty one may be an include path (kvm-source.ts's trace-root).
    for (const dir of entries.filter((entry) => entry.endsWith('/'))) fs.mkdirSync(path.join(to, dir), { recursive: true });
    const wanted = entries.filter((entry) => !entry.endsWith('/'));
    let previous: string[] = [];
    try {
      previous = JSON.parse(fs.readFileSync(manifest, 'utf8')) as string[];
    } catch {
      // a new tree: every file is new
    }
    const changed = [];
    for (const file of wanted) {
      const target = path.join(to, file);
      if (sameContents(path.join(from, file), target)) continue;
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.copyFileSync(path.join(from, file), target);
      changed.push(file);
    }
    const keep = new Set(wanted);
    for (const file of previous.filter((name) => !keep.has(name))) {
      fs.rmSync(path.join(to, file), { force: true });
      changed.push(file);
    }
    fs.writeFileSync(manifest, JSON.stringify(wanted));
    return changed;
  }
}
