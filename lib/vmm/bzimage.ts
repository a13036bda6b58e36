// A bzImage as the x86 boot protocol describes it (Documentation/arch/x86/boot.rst): the real-mode
// setup sectors, whose header this VMM copies into the zero page, and the protected-mode kernel that
// follows them. No firmware runs, so the real-mode setup code itself is never executed.

export class BzImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BzImageError';
  }
}

/** Offsets of the setup header fields this VMM reads or writes (the same in the file and the zero page). */
export const setupHeader = {
  setupSects: 0x1f1,
  bootFlag: 0x1fe,
  jump: 0x200,
  magic: 0x202,
  version: 0x206,
  typeOfLoader: 0x210,
  loadFlags: 0x211,
  code32Start: 0x214,
  ramdiskImage: 0x218,
  ramdiskSize: 0x21c,
  heapEndPtr: 0x224,
  cmdLinePtr: 0x228,
  initrdAddrMax: 0x22c,
  xloadflags: 0x236,
  cmdlineSize: 0x238,
  /** Where the compressed kernel starts (from the protected-mode code) and how long it is. */
  payloadOffset: 0x248,
  payloadLength: 0x24c,
  initSize: 0x260,
} as const;

/** loadflags bits. */
export const LOADED_HIGH = 0x01;
export const CAN_USE_HEAP = 0x80;
/** The oldest protocol with cmdline_size and a relocatable kernel: 2.06 (Linux 2.6.22). */
const MIN_PROTOCOL = 0x206;

export interface BzImage {
  /** Boot protocol version, e.g. 0x20f for 2.15. */
  protocol: number;
  /** The setup header as the file has it: bytes [0x1f1, end of header) of the image. */
  header: Uint8Array;
  /** The protected-mode kernel, to be loaded at code32Start. */
  kernel: Uint8Array;
  code32Start: number;
  initrdAddrMax: number;
  cmdlineSize: number;
  /** Memory the kernel needs from its load address while it decompresses itself. */
  initSize: number;
}

export function parseBzImage(image: Uint8Array): BzImage {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image.length < 0x400 || view.getUint32(setupHeader.magic, true) !== 0x53726448 /* "HdrS" */) {
    throw new BzImageError('not an x86 bzImage (no "HdrS" boot-protocol header at 0x202)');
  }
  const protocol = view.getUint16(setupHeader.version, true);
  if (protocol < MIN_PROTOCOL) throw new BzImageError(`boot protocol ${protocolName(protocol)} is older than 2.06`);
  if ((view.getUint8(setupHeader.loadFlags) & LOADED_HIGH) === 0) throw new BzImageError('not a bzImage (a zImage loads below 1 MiB)');
  const headerEnd = setupHeader.jump + 2 + view.getUint8(setupHeader.jump + 1);
  // setup_sects 0 means 4, for historical reasons; the boot sector itself comes first.
  const setupSectors = view.getUint8(setupHeader.setupSects) || 4;
  const kernelOffset = (setupSectors + 1) * 512;
  if (headerEnd > kernelOffset || kernelOffset >= image.length) throw new BzImageError('the setup header or sectors run past the image');
  return {
    protocol,
    header: image.subarray(setupHeader.setupSects, headerEnd),
    kernel: image.subarray(kernelOffset),
    code32Start: view.getUint32(setupHeader.code32Start, true),
    initrdAddrMax: view.getUint32(setupHeader.initrdAddrMax, true),
    cmdlineSize: view.getUint32(setupHeader.cmdlineSize, true),
    initSize: view.getUint32(setupHeader.initSize, true),
  };
}

export function protocolName(protocol: number): string {
  return `${protocol >> 8}.${(protocol & 0xff).toString().padStart(2, '0')}`;
}
