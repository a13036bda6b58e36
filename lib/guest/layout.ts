// The guest memory map every guest program shares (slot 0, identity-mapped).
//
//   0x0000_0000  page 0: backed but never used or mapped (null pointers fault; xen_shinfo_test's
//               juggler activates shared_info there: tools/testing/selftests/kvm/x86_64/xen_shinfo_test.c:415-418 in 6.12)
//   0x0000_1000  GDT
//   0x0000_2000  TSS
//   0x0001_0000  page-table pool, up to 0x0010_0000
//   0x0020_0000  the guest program (lib/guest/runtime/guest.ld)
//   ...          stacks, growing down from the top of slot 0, one per vCPU
export const guestLayout = {
  slot: 0,
  gdt: 0x1000,
  tss: 0x2000,
  pageTablePool: 0x10000,
  pageTablePoolEnd: 0x100000,
  programBase: 0x200000,
  stackSize: 0x10000,
  /** Default size of slot 0. */
  memorySize: 16 << 20,
  /** The in-kernel LAPIC's xAPIC registers (no memslot: KVM handles accesses there). */
  xapic: 0xfee00000,
} as const;

export const PAGE_SIZE = 0x1000;

export const selectors = { code: 0x8, data: 0x10, tss: 0x18 } as const;
