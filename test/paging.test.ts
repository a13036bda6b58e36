// Page-table building, no /dev/kvm needed: the tables are written into a plain buffer standing in for
// guest memory, then read back through translate() page by page, and each page-table entry is checked
// for the flags it was asked for. (The guests of the other tests run on these tables for real.)
import t from 'tap';

import { PageTables } from '../lib/guest/paging';
import type { GuestMemory } from '../lib/kvm';

const MEMORY_SIZE = 16 << 20;
const POOL_START = 0x10000, POOL_END = 0x100000;
const PAGE = 0x1000, LARGE = 0x200000;

/** The accessors PageTables uses, over one buffer at GPA 0. */
function plainMemory(): GuestMemory {
  const buffer = new ArrayBuffer(MEMORY_SIZE);
  const view = new DataView(buffer);
  const memory = {
    read64: (gpa: number) => view.getBigUint64(gpa, true),
    write64: (gpa: number, value: bigint) => view.setBigUint64(gpa, value, true),
    bytes: (gpa: number, length: number) => new Uint8Array(buffer, gpa, length),
  };
  return memory as unknown as GuestMemory;
}

/** The last-level entry (PTE, or PDE of a 2 MiB page) that maps gva, read by hand. */
function leafEntry(memory: GuestMemory, root: number, gva: number): bigint {
  let table = root;
  for (const shift of [39, 30, 21]) {
    const entry = memory.read64(table + Math.floor(gva / 2 ** shift) % 512 * 8);
    if (shift === 21 && entry & 0x80n) return entry;
    table = Number(entry & 0x000ffffffffff000n);
  }
  return memory.read64(table + Math.floor(gva / PAGE) % 512 * 8);
}

t.test('a range that starts and ends off 2 MiB boundaries maps every page, 2 MiB pages in the middle', (t) => {
  const memory = plainMemory();
  const tables = new PageTables(memory, POOL_START, POOL_END);
  const gva = 0x40000000 + 3 * PAGE, gpa = 0x200000 + 3 * PAGE, size = 2 * LARGE + 5 * PAGE;
  tables.map(gva, gpa, size);
  let mismatches = 0, large = 0;
  for (let offset = 0; offset < size; offset += PAGE) {
    if (tables.translate(gva + offset) !== gpa + offset) mismatches++;
    if (leafEntry(memory, tables.root, gva + offset) & 0x80n) large++;
  }
  t.equal(mismatches, 0, 'translate() gives each page its GPA');
  t.equal(large, LARGE / PAGE, 'exactly one 2 MiB page (the only aligned 2 MiB block inside the range)');
  t.equal(tables.translate(gva - PAGE), undefined, 'the page before the range is unmapped');
  t.equal(tables.translate(gva + size), undefined, 'the page after the range is unmapped');
  t.end();
});

t.test('4 KiB runs that cross a page table stop at its end and go on in the next one', (t) => {
  const memory = plainMemory();
  const tables = new PageTables(memory, POOL_START, POOL_END);
  // Not 2 MiB-aligned in the GPA, so no 2 MiB page fits: three page tables' worth of 4 KiB entries.
  const gva = LARGE - 2 * PAGE, gpa = 0x300000 + PAGE, size = LARGE + 4 * PAGE;
  tables.map(gva, gpa, size, { writable: false, uncached: true });
  let wrong = 0;
  for (let offset = 0; offset < size; offset += PAGE) {
    const entry = leafEntry(memory, tables.root, gva + offset);
    if (Number(entry & 0x000ffffffffff000n) !== gpa + offset || (entry & 0xffn) !== 0x11n) wrong++;
  }
  t.equal(wrong, 0, 'every entry has its GPA and exactly PRESENT|PCD (read-only, uncached, 4 KiB)');
  t.equal(tables.translate(gva + size), undefined, 'the page after the range is unmapped');
  t.end();
});

t.test('mapping over a 2 MiB page is refused', (t) => {
  const memory = plainMemory();
  const tables = new PageTables(memory, POOL_START, POOL_END);
  tables.map(LARGE, LARGE, LARGE);
  t.throws(() => tables.map(LARGE + PAGE, 0x800000, PAGE), /already inside a 2 MiB page/);
  t.end();
});
