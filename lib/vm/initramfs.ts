// The guest's initramfs: a base archive cached per kernel (busybox, the modules the runner needs in
// load order, the keeper, /init), and a small per-run archive (nonce, command, module parameters)
// appended to it.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

import { cacheDir, markUsed, pruneCacheFiles } from '../cache';
import { keeperPath, projectRoot } from '../paths';
import type { OnProgress } from '../progress';
import { cpioArchive, type CpioEntry } from './cpio';
import { VmError } from './errors';
import { BUSYBOX, isStaticElf } from './host-tools';
import { initScript, moduleParamsDir, moduleParamsFile, vendorModules } from './guest-init';
import type { KernelImage } from './kernel';
import { modinfoEntries, readModule } from './modinfo';
import type { GuestModule } from './module-params';
import { cpuVendorNames, type CpuVendor } from './qemu';

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

interface LoadedModule extends GuestModule {
  elf: Buffer;
}

/** The wanted modules and everything they depend on, each after its dependencies. */
function modulesInLoadOrder(kernel: KernelImage): LoadedModule[] {
  const ordered: LoadedModule[] = [];
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (name: string): void => {
    if (done.has(name)) return;
    const file = kernel.modules.get(name);
    if (!file) return;  // built in (or not available: the init reports what it could not load)
    if (visiting.has(name)) throw new VmError('badKernel', `module dependency loop at ${name}`);
    visiting.add(name);
    const elf = readModule(file);
    const info = modinfoEntries(elf, file);
    const depends = new Map(info).get('depends') ?? '';
    for (const dependency of depends.split(',').filter(Boolean)) visit(dependency.replace(/-/g, '_'));
    visiting.delete(name);
    done.add(name);
    ordered.push({ name, elf, info });
  };
  for (const name of WANTED_MODULES) visit(name);
  return ordered;
}

/**
 * The modules the init loads in a guest with this CPU vendor, in order, with their .modinfo entries;
 * the ones it leaves out there (vendorModules), each with the reason.
 */
export function guestModules(kernel: KernelImage, vendor: CpuVendor): { loaded: GuestModule[]; notLoaded: Map<string, string> } {
  const loaded: GuestModule[] = [];
  const notLoaded = new Map<string, string>();
  for (const { name, info } of modulesInLoadOrder(kernel)) {
    const only = vendorModules[name];
    if (only && only !== vendor) notLoaded.set(name, `the guest's CPU is ${cpuVendorNames[vendor]}, and ${name} is loaded only on ${cpuVendorNames[only]} CPUs`);
    else loaded.push({ name, info });
  }
  return { loaded, notLoaded };
}

/** The cached, gzipped base archive for a kernel (rebuilt when any of its inputs changes). */
export function baseInitramfs(kernel: KernelImage, onProgress?: OnProgress): string {
  const keeperProgram = keeper(onProgress);
  const inputs = [BUSYBOX, keeperPath, ...[...kernel.modules.values()]].map((file) => `${file}:${fs.statSync(file).mtimeMs}`);
  const key = crypto.createHash('sha256').update(initScript).update(inputs.join('\n')).digest('hex').slice(0, 16);
  const dir = cacheDir('initramfs');
  const file = path.join(dir, `${key}.cpio.gz`);
  if (fs.existsSync(file)) {
    markUsed(file);
    return file;
  }

  const modules = modulesInLoadOrder(kernel);
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'mnt', 'tmp', 'run', 'modules'].map((dir): CpioEntry => ({ kind: 'dir', path: dir })),
    { kind: 'file', path: 'bin/busybox', data: staticBusybox(), mode: 0o755 },
    { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
    { kind: 'file', path: 'bin/kvm-xen-keeper', data: keeperProgram, mode: 0o755 },
    { kind: 'file', path: 'init', data: Buffer.from(initScript), mode: 0o755 },
    ...modules.map((module): CpioEntry => ({ kind: 'file', path: `modules/${module.name}.ko`, data: module.elf })),
    { kind: 'file', path: 'modules/order', data: Buffer.from(modules.map((module) => `${module.name}\n`).join('')) },
  ];
  const tmp = `${file}.${process.pid}.tmp`;
  // Zero-padded to 512 bytes: the kernel skips NULs between concatenated archives, and the per-run
  // archive follows this one.
  const gzipped = zlib.gzipSync(cpioArchive(entries), { level: 1 });
  fs.writeFileSync(tmp, Buffer.concat([gzipped, Buffer.alloc((512 - (gzipped.length % 512)) % 512)]));
  fs.renameSync(tmp, file);
  pruneCacheFiles(dir, '.cpio.gz', KEEP_ARCHIVES);
  return file;
}

export interface RunFiles {
  nonce: string;
  /** The command script (commandScript). */
  command: string;
  /** Directories under /tmp that the init keeps visible over the scratch tmpfs, one per line in the file. */
  keep?: readonly string[] | undefined;
  /** A host file the init holds open for the whole run (the node binary), so its pages stay cached in the guest. */
  hold?: string | undefined;
}

const keepList = (dirs: readonly string[]): string => dirs.map((dir) => `${dir}\n`).join('');

/** The files of a run that a warm-started guest reads over the host root (command, keep, hold). */
export function writeRunFiles(dir: string, files: Omit<RunFiles, 'nonce'>): void {
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'command'), files.command);
  if (files.keep?.length) fs.writeFileSync(path.join(dir, 'keep'), keepList(files.keep));
  if (files.hold) fs.writeFileSync(path.join(dir, 'hold'), files.hold);
}

/**
 * The run's archive: /run/kvm-xen/{nonce,command,keep,hold,params/MODULE}; for a warm start only
 * params/MODULE and the file warm (the rest comes over the control port: the archive is the same for
 * every run that restores the same state).
 */
export function runArchive(run: RunFiles | 'warm', moduleArgs: ReadonlyMap<string, readonly string[]> = new Map()): Buffer {
  const file = (name: string, data: string): CpioEntry => ({ kind: 'file', path: `run/kvm-xen/${name}`, data: Buffer.from(data) });
  const params = [...moduleArgs];
  return cpioArchive([
    { kind: 'dir', path: 'run' },
    { kind: 'dir', path: 'run/kvm-xen' },
    ...(run === 'warm' ? [file('warm', '')] : [
      file('nonce', run.nonce),
      file('command', run.command),
      ...(run.keep?.length ? [file('keep', keepList(run.keep))] : []),
      ...(run.hold ? [file('hold', run.hold)] : []),
    ]),
    ...(params.length ? [{ kind: 'dir' as const, path: moduleParamsDir }] : []),
    ...params.map(([module, args]): CpioEntry => ({ kind: 'file', path: `${moduleParamsDir}/${module}`, data: Buffer.from(moduleParamsFile(args)) })),
  ]);
}
