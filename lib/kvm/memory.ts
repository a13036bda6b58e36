// Guest physical memory: slots backed by host memory the addon maps, and bounds-checked access by guest
// physical address. Reads and writes go straight to the mapping (a DataView over the external
// ArrayBuffer): no copy, no ioctl.
import { check } from './errors';
import { native, type Mapping } from './native';

export class MemoryRegion {
  /** The region's bytes; valid until the region is removed. */
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** The mapping's size, fixed for its life (kept here: each read of mapping.size is a call into the addon). */
  readonly size: number;

  constructor(readonly slot: number, readonly guestAddress: number, private readonly mapping: Mapping) {
    this.bytes = new Uint8Array(mapping.buffer);
    this.view = new DataView(mapping.buffer);
    this.size = mapping.size;
  }

  /** Allocates host memory for a region (page-aligned size). */
  static allocate(slot: number, guestAddress: number, size: number): MemoryRegion {
    const mapping = native.mapAnonymous(size);
    if (typeof mapping === 'number') check(mapping, 'mmap');
    return new MemoryRegion(slot, guestAddress, mapping as Mapping);
  }

  /** The host virtual address of the region's first byte. */
  get hostAddress(): bigint {
    return this.mapping.address;
  }

  get released(): boolean {
    return this.mapping.unmapped;
  }

  contains(guestAddress: number, length: number): boolean {
    return guestAddress >= this.guestAddress && length >= 0 && guestAddress + length <= this.guestAddress + this.size;
  }

  /** Host virtual address of a guest physical address inside this region. */
  hostAddressOf(guestAddress: number): bigint {
    if (!this.contains(guestAddress, 1)) throw new RangeError(`GPA 0x${guestAddress.toString(16)} is not in slot ${this.slot}`);
    return this.mapping.address + BigInt(guestAddress - this.guestAddress);
  }

  /**
   * Replaces a page range with a fresh private mapping of /dev/zero at the same host address (MAP_FIXED):
   * the kernel's caches of the old pages must notice through its MMU notifiers.
   */
  remapZero(offset: number, length: number): void {
    check(this.mapping.remapZero(offset, length), 'mmap', undefined, 'MAP_FIXED over guest memory');
  }

  release(): void {
    this.mapping.unmap();
  }
}

/** Guest physical address space: the VM's regions, and access by GPA. */
export class GuestMemory {
  private readonly regions = new Map<number, MemoryRegion>();
  /** The region the last lookup found: nearly every access hits the same one as the access before. */
  private lastFound: MemoryRegion | undefined;

  add(region: MemoryRegion): void {
    this.regions.set(region.slot, region);
    this.lastFound = undefined;  // it may have been the slot's old region
  }

  remove(slot: number): MemoryRegion | undefined {
    const region = this.regions.get(slot);
    this.regions.delete(slot);
    if (region === this.lastFound) this.lastFound = undefined;
    return region;
  }

  slot(slot: number): MemoryRegion | undefined {
    return this.regions.get(slot);
  }

  all(): MemoryRegion[] {
    return [...this.regions.values()];
  }

  /** The region holding [gpa, gpa + length); throws RangeError if no single region does. */
  regionOf(gpa: number, length = 1): MemoryRegion {
    if (!Number.isSafeInteger(gpa) || !Number.isSafeInteger(length) || gpa < 0 || length < 0) {
      throw new RangeError(`bad guest physical range ${gpa}+${length}`);
    }
    if (this.lastFound?.contains(gpa, length)) return this.lastFound;
    for (const region of this.regions.values()) {
      if (region.contains(gpa, length)) {
        this.lastFound = region;
        return region;
      }
    }
    throw new RangeError(`GPA 0x${gpa.toString(16)}+${length} is not backed by a memory slot`);
  }

  /** A view of guest bytes, zero-copy. */
  bytes(gpa: number, length: number): Uint8Array {
    const region = this.regionOf(gpa, length);
    const offset = gpa - region.guestAddress;
    return region.bytes.subarray(offset, offset + length);
  }

  view(gpa: number, length: number): DataView {
    const region = this.regionOf(gpa, length);
    return new DataView(region.view.buffer, gpa - region.guestAddress, length);
  }

  hostAddressOf(gpa: number): bigint {
    return this.regionOf(gpa).hostAddressOf(gpa);
  }

  // The scalar accessors use the region's own DataView (no new view per access); a released region's
  // buffer is detached, and V8 refuses the access with a TypeError.
  read8(gpa: number): number { const r = this.regionOf(gpa, 1); return r.view.getUint8(gpa - r.guestAddress); }
  read16(gpa: number): number { const r = this.regionOf(gpa, 2); return r.view.getUint16(gpa - r.guestAddress, true); }
  read32(gpa: number): number { const r = this.regionOf(gpa, 4); return r.view.getUint32(gpa - r.guestAddress, true); }
  read64(gpa: number): bigint { const r = this.regionOf(gpa, 8); return r.view.getBigUint64(gpa - r.guestAddress, true); }
  write8(gpa: number, value: number): void { const r = this.regionOf(gpa, 1); r.view.setUint8(gpa - r.guestAddress, value); }
  write16(gpa: number, value: number): void { const r = this.regionOf(gpa, 2); r.view.setUint16(gpa - r.guestAddress, value, true); }
  write32(gpa: number, value: number): void { const r = this.regionOf(gpa, 4); r.view.setUint32(gpa - r.guestAddress, value, true); }
  write64(gpa: number, value: bigint): void { const r = this.regionOf(gpa, 8); r.view.setBigUint64(gpa - r.guestAddress, value, true); }

  writeBytes(gpa: number, data: Uint8Array): void {
    this.bytes(gpa, data.length).set(data);
  }

  /** A NUL-terminated string from guest memory (at most `max` bytes). */
  readCString(gpa: number, max = 4096): string {
    const region = this.regionOf(gpa);
    const start = gpa - region.guestAddress;
    const limit = Math.min(region.size, start + max);
    let end = start;
    while (end < limit && region.bytes[end] !== 0) end++;
    return Buffer.from(region.bytes.buffer, region.bytes.byteOffset + start, end - start).toString('utf8');
  }
}
