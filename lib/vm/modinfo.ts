// Kernel modules as files: decompression (.ko.xz, via xz) and the .modinfo section (depends=, vermagic=, parm=),
// read straight from the ELF, so any kernel's modules can be ordered without its modprobe.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

import { VmError } from './errors';

/** The module's ELF bytes (decompressing .ko.xz with xz). */
export function readModule(file: string): Buffer {
  if (!file.endsWith('.xz')) return fs.readFileSync(file);
  const result = spawnSync('xz', ['-dc', file], { maxBuffer: 1 << 30 });
  if (result.error) throw new VmError('missingTool', `cannot run xz to decompress ${file}: ${result.error.message} (apt-get install xz-utils)`);
  if (result.status !== 0) throw new VmError('badKernel', `xz could not decompress ${file}: ${result.stderr.toString().trim()}`);
  return result.stdout;
}

/** The key=value strings of the module's .modinfo section (one key per entry: the last one wins). */
export function modinfo(elf: Buffer, file: string): Map<string, string> {
  return new Map(modinfoEntries(elf, file));
}

/** Every key=value entry of the module's .modinfo section, in order (parm= and parmtype= repeat). */
export function modinfoEntries(elf: Buffer, file: string): [string, string][] {
  const bad = (why: string): VmError => new VmError('badKernel', `${file} is not a kernel module: ${why}`);
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) throw bad('not an ELF64 file');
  const shoff = Number(elf.readBigUInt64LE(40));
  const shentsize = elf.readUInt16LE(58);
  const shnum = elf.readUInt16LE(60);
  const shstrndx = elf.readUInt16LE(62);
  const section = (index: number): { name: number; offset: number; size: number } => {
    const at = shoff + index * shentsize;
    if (at + 64 > elf.length) throw bad('section header outside the file');
    return { name: elf.readUInt32LE(at), offset: Number(elf.readBigUInt64LE(at + 24)), size: Number(elf.readBigUInt64LE(at + 32)) };
  };
  const names = section(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameEnd = elf.indexOf(0, names.offset + s.name);
    if (elf.toString('latin1', names.offset + s.name, nameEnd) !== '.modinfo') continue;
    if (s.offset + s.size > elf.length) throw bad('.modinfo outside the file');
    const entries: [string, string][] = [];
    for (const entry of elf.toString('latin1', s.offset, s.offset + s.size).split('\0')) {
      const eq = entry.indexOf('=');
      if (eq > 0) entries.push([entry.slice(0, eq), entry.slice(eq + 1)]);
    }
    return entries;
  }
  throw bad('no .modinfo section');
}

/** Module names are equal with '-' or '_' (kvm-amd is kvm_amd). */
export function moduleKey(name: string): string {
  return name.replace(/\.ko(\.xz|\.zst|\.gz)?$/, '').replace(/-/g, '_');
}
