// The Intel MultiProcessor table (MP spec 1.4): how a kernel without ACPI finds its application
// processors, the IOAPIC and how the ISA interrupts reach it. Firecracker boots Linux the same way.
import { IOAPIC_ADDRESS, LAPIC_ADDRESS, MP_TABLE_MAX } from './layout';

const FLOATING_POINTER_SIZE = 16;
const HEADER_SIZE = 44;
const PROCESSOR_SIZE = 20;
const ENTRY_SIZE = 8;
const entryTypes = { processor: 0, bus: 1, ioapic: 2, ioInterrupt: 3, localInterrupt: 4 } as const;
const interruptTypes = { int: 0, nmi: 1, extInt: 3 } as const;
const SPEC_REVISION = 4;
/** The in-kernel LAPIC and IOAPIC versions KVM reports. */
const LAPIC_VERSION = 0x14;
const IOAPIC_VERSION = 0x11;
const CPU_ENABLED = 1;
const CPU_BOOTSTRAP = 2;
/** ISA IRQs 0-15 reach IOAPIC pins of the same number: KVM's default GSI routing. */
const ISA_IRQS = 16;
const ISA_BUS = 0;

export interface MpTableOptions {
  cpus: number;
  /** CPUID leaf 1 EAX and EDX, which the processor entries repeat. */
  signature: number;
  features: number;
}

/** The IOAPIC's id: after the CPUs' LAPIC ids (0 .. cpus-1). */
export const ioapicId = (cpus: number): number => cpus;

function checksum(bytes: Uint8Array): number {
  return (0x100 - (bytes.reduce((sum, byte) => sum + byte, 0) & 0xff)) & 0xff;
}

function ascii(view: Uint8Array, at: number, text: string, length: number): void {
  view.set(Buffer.from(text.padEnd(length, ' ').slice(0, length), 'latin1'), at);
}

/** The floating pointer, then the configuration table, as placed at `address`. */
export function mpTable(address: number, options: MpTableOptions): Uint8Array {
  const { cpus } = options;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 254) throw new RangeError('cpus must be an integer from 1 to 254');
  const entries = cpus + 1 + 1 + ISA_IRQS + 2;
  const tableLength = HEADER_SIZE + cpus * PROCESSOR_SIZE + (entries - cpus) * ENTRY_SIZE;
  const bytes = new Uint8Array(FLOATING_POINTER_SIZE + tableLength);
  if (bytes.length > MP_TABLE_MAX) throw new RangeError(`an MP table for ${cpus} CPUs does not fit below 640 KiB`);
  const view = new DataView(bytes.buffer);
  const tableAt = FLOATING_POINTER_SIZE;

  ascii(bytes, 0, '_MP_', 4);
  view.setUint32(4, address + tableAt, true);
  view.setUint8(8, 1);  // length in 16-byte units
  view.setUint8(9, SPEC_REVISION);
  // feature bytes 0: the configuration table is present (no default configuration).

  ascii(bytes, tableAt, 'PCMP', 4);
  view.setUint16(tableAt + 4, tableLength, true);
  view.setUint8(tableAt + 6, SPEC_REVISION);
  ascii(bytes, tableAt + 8, 'KVMXEN', 8);
  ascii(bytes, tableAt + 16, 'LINUX VMM', 12);
  view.setUint16(tableAt + 34, entries, true);
  view.setUint32(tableAt + 36, LAPIC_ADDRESS, true);

  let at = tableAt + HEADER_SIZE;
  for (let id = 0; id < cpus; id++) {
    view.setUint8(at, entryTypes.processor);
    view.setUint8(at + 1, id);
    view.setUint8(at + 2, LAPIC_VERSION);
    view.setUint8(at + 3, CPU_ENABLED | (id === 0 ? CPU_BOOTSTRAP : 0));
    view.setUint32(at + 4, options.signature, true);
    view.setUint32(at + 8, options.features, true);
    at += PROCESSOR_SIZE;
  }
  view.setUint8(at, entryTypes.bus);
  view.setUint8(at + 1, ISA_BUS);
  ascii(bytes, at + 2, 'ISA', 6);
  at += ENTRY_SIZE;
  view.setUint8(at, entryTypes.ioapic);
  view.setUint8(at + 1, ioapicId(cpus));
  view.setUint8(at + 2, IOAPIC_VERSION);
  view.setUint8(at + 3, 1);  // enabled
  view.setUint32(at + 4, IOAPIC_ADDRESS, true);
  at += ENTRY_SIZE;
  for (let irq = 0; irq < ISA_IRQS; irq++) {
    // Flags 0: polarity and trigger mode as the ISA bus has them (active high, edge).
    bytes.set([entryTypes.ioInterrupt, interruptTypes.int, 0, 0, ISA_BUS, irq, ioapicId(cpus), irq], at);
    at += ENTRY_SIZE;
  }
  // LINT0 takes the PIC's ExtINT (virtual wire mode until the kernel switches to the IOAPIC), LINT1 NMI;
  // destination 0xff: every LAPIC.
  bytes.set([entryTypes.localInterrupt, interruptTypes.extInt, 0, 0, ISA_BUS, 0, 0xff, 0], at);
  at += ENTRY_SIZE;
  bytes.set([entryTypes.localInterrupt, interruptTypes.nmi, 0, 0, ISA_BUS, 0, 0xff, 1], at);

  view.setUint8(tableAt + 7, checksum(bytes.subarray(tableAt)));
  view.setUint8(10, checksum(bytes.subarray(0, FLOATING_POINTER_SIZE)));
  return bytes;
}
