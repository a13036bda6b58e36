// Where things live in the guest's physical address space when it boots without firmware. One place
// for every address; the loader, the MP table and the e820 map read them from here.

/** The GDT the 32-bit entry runs under (selectors 0x10 code and 0x18 data, as the boot protocol asks). */
export const GDT_ADDRESS = 0x500;
/** boot_params, "the zero page": what the kernel reads first (ESI at entry). */
export const ZERO_PAGE_ADDRESS = 0x7000;
/** The kernel command line (NUL-terminated), below the 640 KiB line the protocol expects it under. */
export const CMDLINE_ADDRESS = 0x20000;
export const CMDLINE_MAX = 0x10000;
/**
 * The top of conventional RAM: the last KiB below 640 KiB is the EBDA on a PC, one of the places Linux
 * scans for an MP floating pointer. The MP table sits there, outside the RAM the e820 map reports.
 */
export const LOW_RAM_END = 0x9fc00;
export const MP_TABLE_ADDRESS = LOW_RAM_END;
export const MP_TABLE_MAX = 0xa0000 - MP_TABLE_ADDRESS;
/** Extended memory starts at 1 MiB; the protected-mode kernel is loaded there (code32_start). */
export const HIGH_RAM_START = 0x100000;
/**
 * RAM ends below this: the 32-bit hole holds the IOAPIC (0xfec00000), the LAPIC (0xfee00000) and the
 * pages VMX borrows for real mode. A VM with more memory would need a second slot above 4 GiB.
 */
export const MMIO_HOLE_START = 0xc0000000;
export const MAX_MEMORY_MB = MMIO_HOLE_START / (1024 * 1024);
/** KVM_SET_IDENTITY_MAP_ADDR and KVM_SET_TSS_ADDR (one page, then three): inside the hole, as QEMU does. */
export const IDENTITY_MAP_ADDRESS = 0xfeffc000;
export const TSS_ADDRESS = 0xfeffd000;
export const IOAPIC_ADDRESS = 0xfec00000;
export const LAPIC_ADDRESS = 0xfee00000;
