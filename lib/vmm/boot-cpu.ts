// The boot CPU's state at the kernel's 32-bit entry point (boot protocol, "32-bit boot protocol"):
// protected mode, paging off, flat 4 GiB code and data segments with the selectors 0x10 and 0x18 of a
// GDT in memory, interrupts off, ESI pointing at boot_params. The other vCPUs wait for their INIT/SIPI
// in the in-kernel LAPIC, as KVM leaves them.
import type { GuestMemory, Vcpu } from '../kvm';
import { GDT_ADDRESS, ZERO_PAGE_ADDRESS } from './layout';

const BOOT_CS = 0x10;
const BOOT_DS = 0x18;
/** Null, null, then the flat 32-bit code (0x10) and data (0x18) descriptors. */
const GDT = [0n, 0n, 0x00cf9b000000ffffn, 0x00cf93000000ffffn];
const CR0_PE = 0x1n;
const CR0_ET = 0x10n;
const RFLAGS_RESERVED = 0x2n;
const SEGMENT_TYPE_CODE = 0xb;  // execute/read, accessed
const SEGMENT_TYPE_DATA = 0x3;  // read/write, accessed

export function writeBootGdt(memory: GuestMemory): void {
  GDT.forEach((descriptor, i) => memory.write64(GDT_ADDRESS + i * 8, descriptor));
}

const flat = (selector: number, type: number) => ({
  base: 0n, limit: 0xffffffff, selector, type, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0,
});

export function setBootRegisters(vcpu: Vcpu, entry: number): void {
  const data = flat(BOOT_DS, SEGMENT_TYPE_DATA);
  vcpu.setSregs({
    cs: flat(BOOT_CS, SEGMENT_TYPE_CODE), ds: data, es: data, fs: data, gs: data, ss: data,
    gdt: { base: BigInt(GDT_ADDRESS), limit: GDT.length * 8 - 1 },
    idt: { base: 0n, limit: 0 },
    // ET as the reset value has it; CD and NW (caches off) cleared.
    cr0: CR0_PE | CR0_ET, cr3: 0n, cr4: 0n, efer: 0n,
  });
  vcpu.setRegs({
    rip: BigInt(entry), rsi: BigInt(ZERO_PAGE_ADDRESS), rflags: RFLAGS_RESERVED,
    rax: 0n, rbx: 0n, rcx: 0n, rdx: 0n, rdi: 0n, rbp: 0n, rsp: 0n,
  });
}
