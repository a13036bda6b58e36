// The uncompressed kernel (vmlinux) inside a bzImage, for QEMU to boot through PVH: QEMU loads the ELF
// and jumps to its 32-bit PVH entry (the Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY, CONFIG_PVH), so the
// guest skips the real-mode setup and decompressing itself, which under TCG costs about a second.
// Extracted once per bzImage into the cache. Without the note, or without the decompressor, the
// bzImage itself is returned. Used by bench/vm-boot.ts's lever rows; the runner still boots the bzImage
// (qemu.ts fastBootArgs says why).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

import { cacheDir, markUsed, pruneCacheFiles } from '../cache';
import { onPath } from '../debian/apt';
import { parseBzImage, setupHeader } from '../vmm/bzimage';

/** Extracted kernels kept in the cache (some 60 MB each). */
const KEEP_KERNELS = 3;
/** Xen's ELF note type for the 32-bit PVH entry point. */
const XEN_ELFNOTE_PHYS32_ENTRY = 18;
const PT_NOTE = 4;

/** The payload's decompressor, by its magic: zlib in Node, or the program that ships with Debian. */
const DECOMPRESSORS: ReadonlyArray<{ magic: Buffer; run: (data: Buffer) => Buffer | undefined }> = [
  { magic: Buffer.from([0x1f, 0x8b]), run: (data) => zlib.gunzipSync(data) },
  { magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), run: (data) => viaProgram('zstd', data) },
  { magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), run: (data) => viaProgram('xz', data) },
];

function viaProgram(program: string, data: Buffer): Buffer | undefined {
  if (!onPath(program)) return undefined;
  const result = spawnSync(program, ['-d', '-c', '-q'], { input: data, maxBuffer: 1 << 30 });
  return result.status === 0 ? result.stdout : undefined;
}

/** Whether an ELF image carries the PVH entry note. */
export function hasPvhEntry(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false;
  const phoff = Number(elf.readBigUInt64LE(32));
  const phentsize = elf.readUInt16LE(54);
  for (let i = 0; i < elf.readUInt16LE(56); i++) {
    const header = phoff + i * phentsize;
    if (header + 56 > elf.length || elf.readUInt32LE(header) !== PT_NOTE) continue;
    const start = Number(elf.readBigUInt64LE(header + 8));
    const end = Math.min(elf.length, start + Number(elf.readBigUInt64LE(header + 32)));
    // Each note: namesz, descsz, type, then the name and the descriptor, each padded to 4 bytes.
    for (let at = start; at + 12 <= end;) {
      const nameSize = elf.readUInt32LE(at);
      const descSize = elf.readUInt32LE(at + 4);
      const type = elf.readUInt32LE(at + 8);
      const name = elf.toString('latin1', at + 12, at + 12 + nameSize).replace(/\0+$/, '');
      if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY) return true;
      at += 12 + Math.ceil(nameSize / 4) * 4 + Math.ceil(descSize / 4) * 4;
    }
  }
  return false;
}

/** The vmlinux inside a bzImage, or undefined (unknown compression, no decompressor, not an ELF). */
export function extractVmlinux(bzImage: Buffer): Buffer | undefined {
  let kernel: Uint8Array;
  try {
    kernel = parseBzImage(bzImage).kernel;
  } catch {
    return undefined;
  }
  const offset = bzImage.readUInt32LE(setupHeader.payloadOffset);
  const length = bzImage.readUInt32LE(setupHeader.payloadLength);
  if (offset + length > kernel.length || length <= 4) return undefined;
  // The build appends the uncompressed size (4 bytes) to the compressed stream: not part of it.
  const payload = Buffer.from(kernel.buffer, kernel.byteOffset + offset, length - 4);
  const decompressor = DECOMPRESSORS.find(({ magic }) => payload.subarray(0, magic.length).equals(magic));
  try {
    return decompressor?.run(payload);
  } catch {
    return undefined;
  }
}

/**
 * The kernel file QEMU should boot: the cached PVH-capable vmlinux of this bzImage, extracted on first
 * use, or the bzImage itself when it has none. The cache key is the bzImage's path, size and mtime.
 */
export function bootableKernel(bzImage: string): string {
  const stat = fs.statSync(bzImage);
  const key = crypto.createHash('sha256').update(`${path.resolve(bzImage)}:${stat.size}:${stat.mtimeMs}`).digest('hex').slice(0, 16);
  const dir = cacheDir('vmlinux');
  const file = path.join(dir, `${key}.vmlinux`);
  const none = path.join(dir, `${key}.none`);
  if (fs.existsSync(file)) {
    markUsed(file);
    return file;
  }
  if (fs.existsSync(none)) return bzImage;
  const elf = extractVmlinux(fs.readFileSync(bzImage));
  if (elf === undefined) return bzImage;  // no decompressor here (yet): tried again next time
  if (!hasPvhEntry(elf)) {
    fs.writeFileSync(none, '');  // remembered: no PVH entry to be had from this image
    return bzImage;
  }
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, elf);
  fs.renameSync(tmp, file);
  pruneCacheFiles(dir, '.vmlinux', KEEP_KERNELS);
  return file;
}
