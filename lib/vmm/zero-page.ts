// boot_params, "the zero page" (Documentation/arch/x86/zero-page.rst): the setup header copied from the
// bzImage and completed by the loader (command line, initrd), and the e820 memory map a BIOS would
// otherwise have reported.
import type { GuestMemory } from '../kvm';
import { setupHeader, type BzImage } from './bzimage';
import { HIGH_RAM_START, LOW_RAM_END, ZERO_PAGE_ADDRESS } from './layout';

const ZERO_PAGE_SIZE = 4096;
const E820_ENTRIES_OFFSET = 0x1e8;
const E820_TABLE_OFFSET = 0x2d0;
const E820_ENTRY_SIZE = 20;
const E820_MAX_ENTRIES = 128;
/** type_of_loader: 0xff, "undefined", for a loader without an assigned id. */
const LOADER_UNDEFINED = 0xff;

export const e820Types = { ram: 1, reserved: 2 } as const;

export interface E820Entry {
  address: number;
  size: number;
  type: (typeof e820Types)[keyof typeof e820Types];
}

/** RAM below 640 KiB (up to the EBDA and MP table) and from 1 MiB on; the rest is not RAM. */
export function e820Map(memoryBytes: number): E820Entry[] {
  return [
    { address: 0, size: LOW_RAM_END, type: e820Types.ram },
    { address: HIGH_RAM_START, size: memoryBytes - HIGH_RAM_START, type: e820Types.ram },
  ];
}

export interface ZeroPageContents {
  image: BzImage;
  cmdlineAddress: number;
  initrd?: { address: number; size: number } | undefined;
  e820: readonly E820Entry[];
}

export function writeZeroPage(memory: GuestMemory, contents: ZeroPageContents): void {
  const { image, cmdlineAddress, initrd, e820 } = contents;
  if (e820.length > E820_MAX_ENTRIES) throw new RangeError(`at most ${E820_MAX_ENTRIES} e820 entries`);
  const page = memory.bytes(ZERO_PAGE_ADDRESS, ZERO_PAGE_SIZE);
  page.fill(0);
  page.set(image.header, setupHeader.setupSects);
  const view = memory.view(ZERO_PAGE_ADDRESS, ZERO_PAGE_SIZE);
  view.setUint8(setupHeader.typeOfLoader, LOADER_UNDEFINED);
  view.setUint32(setupHeader.cmdLinePtr, cmdlineAddress, true);
  view.setUint32(setupHeader.ramdiskImage, initrd?.address ?? 0, true);
  view.setUint32(setupHeader.ramdiskSize, initrd?.size ?? 0, true);
  view.setUint8(E820_ENTRIES_OFFSET, e820.length);
  e820.forEach((entry, i) => {
    const at = E820_TABLE_OFFSET + i * E820_ENTRY_SIZE;
    view.setBigUint64(at, BigInt(entry.address), true);
    view.setBigUint64(at + 8, BigInt(entry.size), true);
    view.setUint32(at + 16, entry.type, true);
  });
}
