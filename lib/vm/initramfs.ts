// The guest's initramfs: a base archive cached per kernel (busybox, the modules the runner needs in
// load order, the keeper, /init), and a small per-run archive (nonce, command) appended to it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

import { cacheDir } from '../cache';
import { projectRoot } from '../paths';
import { cpioArchive, type CpioEntry } from './cpio';
import { VmError } from './errors';
import { initScript } from './guest-init';
import type { KernelImage } from './kernel';
import { modinfo, readModule } from './modinfo';

/** What the guest needs as modules (when the kernel has them as modules rather than built in). */
const WANTED_MODULES = ['9p', '9pnet_virtio', 'kvm_amd', 'kvm_intel'];
const BUSYBOX = '/bin/busybox';
export const keeperPath = (): string => path.join(projectRoot, 'build', 'tools', 'vm-keeper');

/** A static busybox: the Debian `busybox-static` package's /bin/busybox has no ELF interpreter. */
function staticBusybox(): Buffer {
  if (!fs.existsSync(BUSYBOX)) throw new VmError('missingTool', `${BUSYBOX} is missing (apt-get install busybox-static)`);
  const elf = fs.readFileSync(BUSYBOX);
  const phoff = Number(elf.readBigUInt64LE(32));
  const phentsize = elf.readUInt16LE(54);
  for (let i = 0; i < elf.readUInt16LE(56); i++) {
    if (elf.readUInt32LE(phoff + i * phentsize) === 3 /* PT_INTERP */) {
      throw new VmError('missingTool', `${BUSYBOX} is dynamically linked; the guest needs the static one (apt-get install busybox-static)`);
    }
  }
  return elf;
}

interface LoadedModule {
  name: string;
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
    const depends = modinfo(elf, file).get('depends') ?? '';
    for (const dependency of depends.split(',').filter(Boolean)) visit(dependency.replace(/-/g, '_'));
    visiting.delete(name);
    done.add(name);
    ordered.push({ name, elf });
  };
  for (const name of WANTED_MODULES) visit(name);
  return ordered;
}

/** The cached, gzipped base archive for a kernel (rebuilt when any of its inputs changes). */
export function baseInitramfs(kernel: KernelImage): string {
  const keeper = keeperPath();
  if (!fs.existsSync(keeper)) throw new VmError('missingTool', `${keeper} is missing (run: make tools)`);
  const inputs = [BUSYBOX, keeper, ...[...kernel.modules.values()]].map((file) => `${file}:${fs.statSync(file).mtimeMs}`);
  const key = crypto.createHash('sha256').update(initScript).update(inputs.join('\n')).digest('hex').slice(0, 16);
  const file = path.join(cacheDir('initramfs'), `${key}.cpio.gz`);
  if (fs.existsSync(file)) return file;

  const modules = modulesInLoadOrder(kernel);
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'mnt', 'tmp', 'run', 'modules'].map((dir): CpioEntry => ({ kind: 'dir', path: dir })),
    { kind: 'file', path: 'bin/busybox', data: staticBusybox(), mode: 0o755 },
    { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
    { kind: 'file', path: 'bin/kvm-xen-keeper', data: fs.readFileSync(keeper), mode: 0o755 },
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
  return file;
}

/** The run's archive: /run/kvm-xen/{nonce,command}. */
export function runArchive(nonce: string, command: string): Buffer {
  return cpioArchive([
    { kind: 'dir', path: 'run' },
    { kind: 'dir', path: 'run/kvm-xen' },
    { kind: 'file', path: 'run/kvm-xen/nonce', data: Buffer.from(nonce) },
    { kind: 'file', path: 'run/kvm-xen/command', data: Buffer.from(command) },
  ]);
}
