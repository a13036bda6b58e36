// The GDT and IDT entries the VM builder writes: a flat 64-bit code segment, a data segment, a TSS
// (VM entry wants a usable TR), and interrupt gates.
import { selectors } from './layout';

/** An 8-byte code/data descriptor. `type` is the 4-bit segment type; long mode code sets L. */
function segmentDescriptor(type: number, longCode: boolean): bigint {
  const limit = 0xfffffn;
  let d = limit & 0xffffn;
  d |= BigInt(type) << 40n;
  d |= 1n << 44n;            // S: code/data
  d |= 1n << 47n;            // present
  d |= (limit >> 16n) << 48n;
  if (longCode) d |= 1n << 53n;  // L
  else d |= 1n << 54n;           // D/B
  d |= 1n << 55n;            // G: 4 KiB granularity
  return d;
}

/** The 16-byte system descriptor of a 64-bit available TSS. */
function tssDescriptor(base: number, limit: number): [bigint, bigint] {
  const b = BigInt(base);
  let low = BigInt(limit) & 0xffffn;
  low |= (b & 0xffffffn) << 16n;
  low |= 0x9n << 40n;        // type: 64-bit TSS (available)
  low |= 1n << 47n;          // present
  low |= ((BigInt(limit) >> 16n) & 0xfn) << 48n;
  low |= ((b >> 24n) & 0xffn) << 56n;
  return [low, b >> 32n];
}

export const TSS_LIMIT = 0x67;

/** The GDT's 8-byte words, indexed by selector / 8. */
export function gdtEntries(tssBase: number): bigint[] {
  const entries = new Array<bigint>(selectors.tss / 8 + 2).fill(0n);
  entries[selectors.code / 8] = segmentDescriptor(0xb, true);   // execute/read, accessed
  entries[selectors.data / 8] = segmentDescriptor(0x3, false);  // read/write, accessed
  const [low, high] = tssDescriptor(tssBase, TSS_LIMIT);
  entries[selectors.tss / 8] = low;
  entries[selectors.tss / 8 + 1] = high;
  return entries;
}

/** A 16-byte 64-bit interrupt gate (present, DPL 0) to `handler` through the code selector. */
export function interruptGate(handler: number): [bigint, bigint] {
  const h = BigInt(handler);
  let low = h & 0xffffn;
  low |= BigInt(selectors.code) << 16n;
  low |= 0x8en << 40n;
  low |= ((h >> 16n) & 0xffffn) << 48n;
  return [low, h >> 32n];
}
