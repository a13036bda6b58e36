// x86-64 4-level page tables in guest memory: any guest-virtual page to any guest-physical page, with
// 2 MiB pages where both addresses and the size allow it (fewer TLB misses: the exit benchmark notices)
// and 4 KiB pages elsewhere.
import type { GuestMemory } from '../kvm';
import { PAGE_SIZE } from './layout';

const PRESENT = 1n << 0n;
const WRITABLE = 1n << 1n;
const CACHE_DISABLE = 1n << 4n;
const LARGE = 1n << 7n;
const LARGE_PAGE_SIZE = 0x200000;
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

  /** Maps [gva, gva + size) to [gpa, gpa + size). */
  map(gva: number, gpa: number, size: number, options: MapOptions = {}): void {
    if (gva % PAGE_SIZE || gpa % PAGE_SIZE || size % PAGE_SIZE || size <= 0) {
      throw new RangeError(`map needs page-aligned addresses and size (gva 0x${gva.toString(16)} gpa 0x${gpa.toString(16)} size 0x${size.toString(16)})`);
    }
    if (gva + size > 2 ** 47) throw new RangeError('only the lower canonical half (below 2^47) is supported');
    let flags = PRESENT;
    if (options.writable ?? true) flags |= WRITABLE;
    if (options.uncached) flags |= CACHE_DISABLE;
    for (let offset = 0; offset < size;) {
      const va = gva + offset, pa = gpa + offset;
      if (va % LARGE_PAGE_SIZE === 0 && pa % LARGE_PAGE_SIZE === 0 && size - offset >= LARGE_PAGE_SIZE && this.canMapLarge(va)) {
        this.memory.write64(this.walk(va, true, 2)!.entry, BigInt(pa) | flags | LARGE);
        offset += LARGE_PAGE_SIZE;
      } else {
        // 4 KiB pages to the end of this page table (va's 2 MiB block) or of the range: their entries
        // lie side by side, so one walk serves them all (per page, the walks were most of setUp's
        // JavaScript in the TCG guest).
        const first = this.walk(va, true)!.entry;
        const pages = Math.min(LARGE_PAGE_SIZE - (va % LARGE_PAGE_SIZE), size - offset) / PAGE_SIZE;
        for (let i = 0; i < pages; i++) this.memory.write64(first + i * 8, BigInt(pa + i * PAGE_SIZE) | flags);
        offset += pages * PAGE_SIZE;
      }
    }
  }

  /** The guest-physical address `gva` maps to, or undefined. */
  translate(gva: number): number | undefined {
    const pde = this.walk(gva, false, 2);
    if (!pde) return undefined;
    const pdeValue = this.memory.read64(pde.entry);
    if (pdeValue & LARGE) return Number(pdeValue & ADDRESS_MASK) + (gva % LARGE_PAGE_SIZE);
    const pte = this.walk(gva, false);
    if (!pte) return undefined;
    const value = this.memory.read64(pte.entry);
    if (!(value & PRESENT)) return undefined;
    return Number(value & ADDRESS_MASK) + (gva % PAGE_SIZE);
  }

  /** A 2 MiB page fits at va if its page-directory entry is free (no 4 KiB table under it yet). */
  private canMapLarge(va: number): boolean {
    const pde = this.walk(va, true, 2)!;
    return !(this.memory.read64(pde.entry) & PRESENT);
  }

  /**
   * Finds (or builds) the path to gva's entry at `level` (1: page table, 2: page directory); returns
   * that entry's GPA. Undefined when a level is missing (and not created) or is a 2 MiB page above it.
   */
  private walk(gva: number, create: boolean, level: 1 | 2 = 1): { entry: number } | undefined {
    let table = this.root;
    const va = BigInt(gva);
    const shifts = level === 1 ? [39n, 30n, 21n] : [39n, 30n];
    for (const shift of shifts) {
      const entry = table + Number((va >> shift) & 0x1ffn) * 8;
      let value = this.memory.read64(entry);
      if (value & LARGE) {
        if (create) throw new RangeError(`0x${gva.toString(16)} is already inside a 2 MiB page`);
        return undefined;
      }
      if (!(value & PRESENT)) {
        if (!create) return undefined;
        value = BigInt(this.allocate()) | PRESENT | WRITABLE;
        this.memory.write64(entry, value);
      }
      table = Number(value & ADDRESS_MASK);
    }
    const shift = level === 1 ? 12n : 21n;
    return { entry: table + Number((va >> shift) & 0x1ffn) * 8 };
  }

  private allocate(): number {
    if (this.next + PAGE_SIZE > this.poolEnd) throw new RangeError('the page-table pool is full');
    const page = this.next;
    this.next += PAGE_SIZE;
    this.memory.bytes(page, PAGE_SIZE).fill(0);
    return page;
  }
}
