// x86-64 4-level page tables in guest memory: any 4 KiB guest-virtual page to any guest-physical page.
import type { GuestMemory } from '../kvm';
import { PAGE_SIZE } from './layout';

const PRESENT = 1n << 0n;
const WRITABLE = 1n << 1n;
const CACHE_DISABLE = 1n << 4n;
const ADDRESS_MASK = 0x000ffffffffff000n;

export interface MapOptions {
  writable?: boolean;
  /** Uncached (PCD), e.g. for device registers such as the xAPIC page. */
  uncached?: boolean;
}

export class PageTables {
  private next: number;
  readonly root: number;

  constructor(private readonly memory: GuestMemory, poolStart: number, private readonly poolEnd: number) {
    this.next = poolStart;
    this.root = this.allocate();
  }

  /** Maps [gva, gva + size) to [gpa, gpa + size) with 4 KiB pages. */
  map(gva: number, gpa: number, size: number, options: MapOptions = {}): void {
    if (gva % PAGE_SIZE || gpa % PAGE_SIZE || size % PAGE_SIZE || size <= 0) {
      throw new RangeError(`map needs page-aligned addresses and size (gva 0x${gva.toString(16)} gpa 0x${gpa.toString(16)} size 0x${size.toString(16)})`);
    }
    if (gva + size > 2 ** 47) throw new RangeError('only the lower canonical half (below 2^47) is supported');
    let flags = PRESENT;
    if (options.writable ?? true) flags |= WRITABLE;
    if (options.uncached) flags |= CACHE_DISABLE;
    for (let offset = 0; offset < size; offset += PAGE_SIZE) {
      const table = this.walk(gva + offset, true)!;
      this.memory.write64(table.entry, BigInt(gpa + offset) | flags);
    }
  }

  /** The guest-physical address `gva` maps to, or undefined. */
  translate(gva: number): number | undefined {
    const table = this.walk(gva, false);
    if (!table) return undefined;
    const pte = this.memory.read64(table.entry);
    if (!(pte & PRESENT)) return undefined;
    return Number(pte & ADDRESS_MASK) + (gva % PAGE_SIZE);
  }

  /** Finds (or builds) the path to gva's page-table entry; returns that entry's GPA. */
  private walk(gva: number, create: boolean): { entry: number } | undefined {
    let table = this.root;
    const va = BigInt(gva);
    for (const shift of [39n, 30n, 21n]) {
      const entry = table + Number((va >> shift) & 0x1ffn) * 8;
      let value = this.memory.read64(entry);
      if (!(value & PRESENT)) {
        if (!create) return undefined;
        value = BigInt(this.allocate()) | PRESENT | WRITABLE;
        this.memory.write64(entry, value);
      }
      table = Number(value & ADDRESS_MASK);
    }
    return { entry: table + Number((va >> 12n) & 0x1ffn) * 8 };
  }

  private allocate(): number {
    if (this.next + PAGE_SIZE > this.poolEnd) throw new RangeError('the page-table pool is full');
    const page = this.next;
    this.next += PAGE_SIZE;
    this.memory.bytes(page, PAGE_SIZE).fill(0);
    return page;
  }
}
