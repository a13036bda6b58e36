// The guest's initramfs: an uncompressed base archive cached per kernel (busybox, the modules the runner needs in
// load order, the keeper, /init), and a small per-run archive (nonce, command) appended to it.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { cacheDir } from '../cache';
import { keeperPath, projectRoot } from '../paths';
import type { OnProgress } from '../progress';
import { cpioArchive, type CpioEntry } from './cpio';
import { VmError } from './errors';
import { BUSYBOX, isStaticElf } from './host-tools';
import { initScript } from './guest-init';
import type { KernelImage } from './kernel';
import { modinfo, readModule } from './modinfo';

/** What the guest needs as modules (when the kernel has them as modules rather than built in). */
const WANTED_MODULES = ['9p', '9pnet_virtio', 'virtio_console', 'kvm_amd', 'kvm_intel'];
/** Base archives kept in the cache: one per kernel and module set recently used. */
const KEEP_ARCHIVES = 8;

export function staticBusybox(): Buffer {
  if (!isStaticElf(BUSYBOX)) throw new VmError('missingTool', `${BUSYBOX} is missing or dynamically linked; the guest needs the static one (apt-get install busybox-static)`);
  return fs.readFileSync(BUSYBOX);
}

/** The keeper (keeper.c), built by `npm install`; built here if it is missing and gcc is there. */
function keeper(onProgress: OnProgress | undefined): Buffer {
  const file = keeperPath;
  if (!fs.existsSync(file)) {
    onProgress?.({ kind: 'step', text: 'building the guest keeper (make tools)' });
    const made = spawnSync('make', ['-s', '-C', projectRoot, 'tools'], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (made.stderr) onProgress?.({ kind: 'toolOutput', text: made.stderr });
    if (made.status !== 0 || !fs.existsSync(file)) {
      throw new VmError('missingTool', `${file} is missing and could not be built (needs gcc and a static libc: apt-get install gcc libc6-dev; then make tools)`);
    }
  }
  return fs.readFileSync(file);
}

/** Drops all but the most recently used base archives. */
function prune(dir: string): void {
  const archives = fs.readdirSync(dir).filter((name) => /\.cpio(\.gz)?$/.test(name))
    .map((name) => ({ file: path.join(dir, name), used: fs.statSync(path.join(dir, name)).mtimeMs }))
    .sort((a, b) => b.used - a.used);
  for (const old of archives.slice(KEEP_ARCHIVES)) fs.rmSync(old.file, { force: true });
}

interface LoadedModule {
  name: string;
  file: string;
}

/** A file's identity for the cache keys: its path, size and mtime (reading them is cheap, hashing is not). */
function identity(file: string): string {
  const stat = fs.statSync(file);
  return `${path.resolve(file)}:${stat.size}:${stat.mtimeMs}`;
}

/**
 * Each module file's `depends=` string, remembered by file identity in the cache: reading it means
 * decompressing the module (xz), which every run did for the key before an archive could be reused.
 */
class DependsMemo {
  private readonly file = path.join(cacheDir('initramfs'), 'depends.json');
  private readonly known: Record<string, string>;
  private changed = false;

  constructor() {
    let known: Record<string, string> = {};
    try {
      const parsed: unknown = JSON.parse(fs.readFileSync(this.file, 'utf8'));
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) known = parsed as Record<string, string>;
    } catch {
      // none yet, or a torn file: rebuilt from the modules
    }
    this.known = known;
  }

  depends(file: string): string[] {
    const id = identity(file);
    let depends = this.known[id];
    if (typeof depends !== 'string') {
      depends = modinfo(readModule(file), file).get('depends') ?? '';
      this.known[id] = depends;
      this.changed = true;
    }
    return depends.split(',').filter(Boolean).map((dependency) => dependency.replace(/-/g, '_'));
  }

  save(): void {
    if (!this.changed) return;
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(this.known));
    fs.renameSync(tmp, this.file);
  }
}

/** The wanted modules and everything they depend on, each after its dependencies. */
function modulesInLoadOrder(kernel: KernelImage): LoadedModule[] {
  const memo = new DependsMemo();
  const ordered: LoadedModule[] = [];
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (name: string): void => {
    if (done.has(name)) return;
    const file = kernel.modules.get(name);
    if (!file) return;  // built in (or not available: the init reports what it could not load)
    if (visiting.has(name)) throw new VmError('badKernel', `module dependency loop at ${name}`);
    visiting.add(name);
    for (const dependency of memo.depends(file)) visit(dependency);
    visiting.delete(name);
    done.add(name);
    ordered.push({ name, file });
  };
  for (const name of WANTED_MODULES) visit(name);
  memo.save();
  return ordered;
}

/**
 * The cached base archive for a kernel, keyed by what goes into it: the init, busybox, the keeper and
 * the very module files loaded (not the kernel's other 4,000). Uncompressed: QEMU loads it at memory
 * speed, while the guest's gunzip of 7 MB took some 0.2 s under TCG.
 */
export function baseInitramfs(kernel: KernelImage, onProgress?: OnProgress): string {
  const keeperProgram = keeper(onProgress);
  const modules = modulesInLoadOrder(kernel);
  const inputs = [BUSYBOX, keeperPath, ...modules.map((module) => module.file)].map(identity);
  const key = crypto.createHash('sha256').update(initScript).update(inputs.join('\n')).digest('hex').slice(0, 16);
  const dir = cacheDir('initramfs');
  const file = path.join(dir, `${key}.cpio`);
  if (fs.existsSync(file)) {
    const now = new Date();
    fs.utimesSync(file, now, now);  // recently used: kept by prune()
    return file;
  }

  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'mnt', 'tmp', 'run', 'modules'].map((dir): CpioEntry => ({ kind: 'dir', path: dir })),
    { kind: 'file', path: 'bin/busybox', data: staticBusybox(), mode: 0o755 },
    { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
    { kind: 'file', path: 'bin/kvm-xen-keeper', data: keeperProgram, mode: 0o755 },
    { kind: 'file', path: 'init', data: Buffer.from(initScript), mode: 0o755 },
    ...modules.map((module): CpioEntry => ({ kind: 'file', path: `modules/${module.name}.ko`, data: readModule(module.file) })),
    { kind: 'file', path: 'modules/order', data: Buffer.from(modules.map((module) => `${module.name}\n`).join('')) },
  ];
  const tmp = `${file}.${process.pid}.tmp`;
  // Zero-padded to 512 bytes: the kernel skips NULs between concatenated archives, and the per-run
  // archive follows this one.
  const archive = cpioArchive(entries);
  fs.writeFileSync(tmp, Buffer.concat([archive, Buffer.alloc((512 - (archive.length % 512)) % 512)]));
  fs.renameSync(tmp, file);
  prune(dir);
  return file;
}

/** The run's archive: /run/kvm-xen/{nonce,command}. */
export function runArchive(nonce: string, command: string, keep?: string): Buffer {
  return cpioArchive([
    { kind: 'dir', path: 'run' },
    { kind: 'dir', path: 'run/kvm-xen' },
    { kind: 'file', path: 'run/kvm-xen/nonce', data: Buffer.from(nonce) },
    { kind: 'file', path: 'run/kvm-xen/command', data: Buffer.from(command) },
    // A directory under /tmp that the init keeps visible over the scratch tmpfs.
    ...(keep ? [{ kind: 'file' as const, path: 'run/kvm-xen/keep', data: Buffer.from(keep) }] : []),
  ]);
}
