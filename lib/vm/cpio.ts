// The "newc" cpio format the kernel unpacks as an initramfs. Several archives may simply be
// concatenated (the kernel reads them one after another), which is how a cached base image and a
// small per-run archive are combined.

export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Uint8Array; mode?: number }
  | { kind: 'symlink'; path: string; target: string };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

function hex8(value: number): string {
  return value.toString(16).padStart(8, '0');
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function record(ino: number, mode: number, name: string, data: Uint8Array): Buffer[] {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0];
  const header = Buffer.from(`070701${fields.map(hex8).join('')}`, 'latin1');
  return [header, nameBytes, pad4(header.length + nameBytes.length), Buffer.from(data), pad4(data.length)];
}

/** One newc archive with the entries in order (directories before what they contain) and a trailer. */
export function cpioArchive(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  entries.forEach((entry, index) => {
    const name = entry.path.replace(/^\/+/, '');
    const ino = index + 1;
    if (entry.kind === 'dir') parts.push(...record(ino, S_IFDIR | (entry.mode ?? 0o755), name, new Uint8Array()));
    else if (entry.kind === 'file') parts.push(...record(ino, S_IFREG | (entry.mode ?? 0o644), name, entry.data));
    else parts.push(...record(ino, S_IFLNK | 0o777, name, Buffer.from(entry.target, 'utf8')));
  });
  parts.push(...record(0, 0, 'TRAILER!!!', new Uint8Array()));
  return Buffer.concat(parts);
}
