// Places a bzImage, its initrd and command line in guest memory and fills in what the kernel reads
// at entry: the zero page with its e820 map, the boot GDT and the MP table.
import type { CpuidEntry, GuestMemory } from '../kvm';
import { writeBootGdt } from './boot-cpu';
import type { BzImage } from './bzimage';
import { processorSignature } from './cpuid';
import { CMDLINE_ADDRESS, CMDLINE_MAX, HIGH_RAM_START, MP_TABLE_ADDRESS } from './layout';
import { mpTable } from './mptable';
import { e820Map, writeZeroPage } from './zero-page';

const PAGE = 4096;
/**
 * Where a relocatable kernel decompresses itself when loaded lower: CONFIG_PHYSICAL_START, 16 MiB on
 * x86-64 distribution kernels. It needs init_size bytes from there, clear of the initrd.
 */
const KERNEL_RUN_ADDRESS = 0x1000000;

export interface LoadRequest {
  image: BzImage;
  initrd?: Uint8Array | undefined;
  cmdline: string;
  memoryBytes: number;
  cpus: number;
  /** The boot CPU's CPUID, whose signature the MP table repeats. */
  cpuid: readonly CpuidEntry[];
}

export class LoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoadError';
  }
}

/** Loads everything; returns the entry point (the 32-bit entry, code32_start). */
export function loadLinux(memory: GuestMemory, request: LoadRequest): number {
  const { image, initrd, cmdline, memoryBytes, cpus } = request;
  const cmdlineBytes = Buffer.from(`${cmdline}\0`, 'latin1');
  if (cmdlineBytes.length > Math.min(CMDLINE_MAX, image.cmdlineSize + 1)) {
    throw new LoadError(`the command line is ${cmdlineBytes.length - 1} bytes; this kernel takes at most ${image.cmdlineSize}`);
  }
  const entry = image.code32Start || HIGH_RAM_START;
  if (entry + image.kernel.length > memoryBytes) throw new LoadError('the kernel does not fit in guest memory');
  memory.writeBytes(entry, image.kernel);
  memory.writeBytes(CMDLINE_ADDRESS, cmdlineBytes);

  let initrdPlace: { address: number; size: number } | undefined;
  if (initrd && initrd.length > 0) {
    // As high as the kernel allows, so its decompression below stays clear of it.
    const top = Math.min(memoryBytes, image.initrdAddrMax + 1);
    const address = Math.floor((top - initrd.length) / PAGE) * PAGE;
    const kernelEnd = Math.max(entry + image.kernel.length, KERNEL_RUN_ADDRESS + image.initSize);
    if (address < kernelEnd) {
      throw new LoadError(`the kernel (${mib(image.initSize)} MiB to decompress) and the initrd (${mib(initrd.length)} MiB) do not fit in ${mib(memoryBytes)} MiB`);
    }
    memory.writeBytes(address, initrd);
    initrdPlace = { address, size: initrd.length };
  }

  writeZeroPage(memory, { image, cmdlineAddress: CMDLINE_ADDRESS, initrd: initrdPlace, e820: e820Map(memoryBytes) });
  writeBootGdt(memory);
  memory.writeBytes(MP_TABLE_ADDRESS, mpTable(MP_TABLE_ADDRESS, { cpus, ...processorSignature(request.cpuid) }));
  return entry;
}

function mib(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
}
