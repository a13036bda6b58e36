// Hypercall arguments are guest virtual addresses: this walks the calling vCPU's page tables (long
// mode, 4 or 5 levels, 1 GiB and 2 MiB pages) to reach the bytes in guest RAM. Identity when paging
// is off.
import type { GuestMemory, Vcpu } from '../../kvm';

const CR0_PG = 1n << 31n;
const CR4_LA57 = 1n << 12n;
const EFER_LMA = 1n << 10n;
const PRESENT = 1n;
const PAGE_SIZE_BIT = 1n << 7n;
/** Bits 51:12 of a table entry: the next table's (or the page's) physical address. */
const ADDRESS_MASK = 0x000ffffffffff000n;
const PAGE = 4096;

export class PageFault extends Error {
  constructor(readonly address: bigint, why: string) {
    super(`guest virtual address 0x${address.toString(16)}: ${why}`);
    this.name = 'PageFault';
  }
}

/** A vCPU's view of guest memory through its current page tables. */
export class GuestVirtual {
  private readonly cr3: bigint;
  private readonly paging: boolean;
  private readonly levels: number;

  constructor(vcpu: Vcpu, private readonly memory: GuestMemory) {
    const sregs = vcpu.getSregs();
    this.paging = (sregs.cr0 & CR0_PG) !== 0n;
    if (this.paging && (sregs.efer & EFER_LMA) === 0n) throw new PageFault(0n, 'the vCPU is not in long mode (32-bit paging is not walked)');
    this.levels = (sregs.cr4 & CR4_LA57) !== 0n ? 5 : 4;
    this.cr3 = sregs.cr3 & ADDRESS_MASK;
  }

  /** The guest physical address of `address`. */
  translate(address: bigint): number {
    if (!this.paging) return Number(address);
    let table = this.cr3;
    for (let level = this.levels; level >= 1; level--) {
      const shift = BigInt(12 + 9 * (level - 1));
      const entry = this.memory.read64(Number(table + ((address >> shift) & 0x1ffn) * 8n));
      if ((entry & PRESENT) === 0n) throw new PageFault(address, `not mapped (level ${level})`);
      if (level === 1 || (level <= 3 && (entry & PAGE_SIZE_BIT) !== 0n)) {
        const offsetMask = (1n << shift) - 1n;
        return Number(((entry & ADDRESS_MASK) & ~offsetMask) | (address & offsetMask));
      }
      table = entry & ADDRESS_MASK;
    }
    throw new PageFault(address, 'unreachable');
  }

  read(address: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.eachPage(address, length, (gpa, at, size) => out.set(this.memory.bytes(gpa, size), at));
    return out;
  }

  write(address: bigint, bytes: Uint8Array): void {
    this.eachPage(address, bytes.length, (gpa, at, size) => this.memory.writeBytes(gpa, bytes.subarray(at, at + size)));
  }

  read32(address: bigint): number { return new DataView(this.read(address, 4).buffer).getUint32(0, true); }
  read64(address: bigint): bigint { return new DataView(this.read(address, 8).buffer).getBigUint64(0, true); }
  write32(address: bigint, value: number): void {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, value, true);
    this.write(address, bytes);
  }

  /** A structure may straddle a page boundary: each page is translated on its own. */
  private eachPage(address: bigint, length: number, visit: (gpa: number, at: number, size: number) => void): void {
    for (let at = 0; at < length;) {
      const here = address + BigInt(at);
      const size = Math.min(length - at, PAGE - Number(here % BigInt(PAGE)));
      visit(this.translate(here), at, size);
      at += size;
    }
  }
}
