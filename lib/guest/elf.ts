// A loader for the guest programs' ELF files: 64-bit little-endian x86-64 executables, statically linked.
// It reads the loadable segments and the symbol table (the host finds guest variables and the exception
// stubs by name).

export interface ElfSegment {
  /** Where the segment runs (guest virtual = physical for our identity-mapped programs). */
  readonly address: number;
  /** The file bytes; the rest up to memorySize is zero (.bss). */
  readonly data: Uint8Array;
  readonly memorySize: number;
  readonly writable: boolean;
  readonly executable: boolean;
}

export interface ElfSymbol {
  readonly address: number;
  readonly size: number;
}

export interface ElfImage {
  readonly entry: number;
  readonly segments: readonly ElfSegment[];
  readonly symbols: ReadonlyMap<string, ElfSymbol>;
}

const PT_LOAD = 1;
const SHT_SYMTAB = 2;
const EM_X86_64 = 62;
const ET_EXEC = 2;
const PF_X = 1;
const PF_W = 2;
const ELF64_SYM_SIZE = 24;

export class ElfError extends Error {
  constructor(message: string) {
    super(`not a loadable guest ELF: ${message}`);
    this.name = 'ElfError';
  }
}

function toNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError(`${what} 0x${value.toString(16)} is too large`);
  return Number(value);
}

export function parseElf(file: Uint8Array): ElfImage {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const need = (offset: number, length: number, what: string): void => {
    if (offset < 0 || length < 0 || offset + length > file.byteLength) throw new ElfError(`${what} lies outside the file`);
  };
  need(0, 64, 'the ELF header');
  if (view.getUint32(0, false) !== 0x7f454c46) throw new ElfError('bad magic');
  if (file[4] !== 2 || file[5] !== 1) throw new ElfError('not ELF64 little-endian');
  if (view.getUint16(16, true) !== ET_EXEC || view.getUint16(18, true) !== EM_X86_64) throw new ElfError('not an x86-64 executable');

  const entry = toNumber(view.getBigUint64(24, true), 'entry');
  const phoff = toNumber(view.getBigUint64(32, true), 'e_phoff');
  const shoff = toNumber(view.getBigUint64(40, true), 'e_shoff');
  const phentsize = view.getUint16(54, true);
  const phnum = view.getUint16(56, true);
  const shentsize = view.getUint16(58, true);
  const shnum = view.getUint16(60, true);

  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    need(at, 56, 'a program header');
    if (view.getUint32(at, true) !== PT_LOAD) continue;
    const flags = view.getUint32(at + 4, true);
    const offset = toNumber(view.getBigUint64(at + 8, true), 'p_offset');
    const address = toNumber(view.getBigUint64(at + 24, true), 'p_paddr');
    const fileSize = toNumber(view.getBigUint64(at + 32, true), 'p_filesz');
    const memorySize = toNumber(view.getBigUint64(at + 40, true), 'p_memsz');
    need(offset, fileSize, 'a segment');
    if (memorySize < fileSize) throw new ElfError('a segment is smaller in memory than in the file');
    segments.push({
      address, data: file.subarray(offset, offset + fileSize), memorySize,
      writable: (flags & PF_W) !== 0, executable: (flags & PF_X) !== 0,
    });
  }
  if (segments.length === 0) throw new ElfError('no loadable segment');

  const symbols = new Map<string, ElfSymbol>();
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * shentsize;
    need(at, 64, 'a section header');
    if (view.getUint32(at + 4, true) !== SHT_SYMTAB) continue;
    const offset = toNumber(view.getBigUint64(at + 24, true), 'sh_offset');
    const size = toNumber(view.getBigUint64(at + 32, true), 'sh_size');
    const link = view.getUint32(at + 40, true);
    const entrySize = toNumber(view.getBigUint64(at + 56, true), 'sh_entsize') || ELF64_SYM_SIZE;
    // Each entry is read as a whole Elf64_Sym: smaller steps would read past the table's end.
    if (entrySize < ELF64_SYM_SIZE) throw new ElfError(`symbol table entries of ${entrySize} bytes (an Elf64_Sym has ${ELF64_SYM_SIZE})`);
    const stringsAt = shoff + link * shentsize;
    need(stringsAt, 64, 'the string table header');
    const stringsOffset = toNumber(view.getBigUint64(stringsAt + 24, true), 'sh_offset');
    const stringsSize = toNumber(view.getBigUint64(stringsAt + 32, true), 'sh_size');
    need(offset, size, 'the symbol table');
    need(stringsOffset, stringsSize, 'the string table');
    for (let s = 0; s + entrySize <= size; s += entrySize) {
      const nameOffset = view.getUint32(offset + s, true);
      if (nameOffset === 0 || nameOffset >= stringsSize) continue;
      let end = stringsOffset + nameOffset;
      while (end < stringsOffset + stringsSize && file[end] !== 0) end++;
      const name = Buffer.from(file.buffer, file.byteOffset + stringsOffset + nameOffset, end - stringsOffset - nameOffset).toString('latin1');
      symbols.set(name, {
        address: toNumber(view.getBigUint64(offset + s + 8, true), 'st_value'),
        size: toNumber(view.getBigUint64(offset + s + 16, true), 'st_size'),
      });
    }
  }
  return { entry, segments, symbols };
}
