// Port I/O dispatch: each device claims a range of ports; an access nobody claims reads as all ones
// (an empty ISA bus) and its writes are dropped. A device model is one file implementing PortDevice.
import type { IoExit } from '../../kvm';

export interface PortDevice {
  /** `offset` is the port minus the start of the device's range; `size` is 1, 2 or 4 bytes. */
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
}

interface Claim {
  start: number;
  length: number;
  device: PortDevice;
}

export class PortBus {
  private readonly claims: Claim[] = [];
  /** Accesses to ports nobody claimed, by port (for diagnostics). */
  readonly unclaimed = new Map<number, number>();

  register(start: number, length: number, device: PortDevice): void {
    if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 1 || start + length > 0x10000) {
      throw new RangeError(`bad port range ${start}+${length}`);
    }
    const overlapping = this.claims.find((claim) => start < claim.start + claim.length && claim.start < start + length);
    if (overlapping) throw new Error(`ports 0x${start.toString(16)}+${length} overlap a device at 0x${overlapping.start.toString(16)}`);
    this.claims.push({ start, length, device });
  }

  /** Answers an I/O exit: OUT data goes to the device, IN data is written into the exit's buffer. */
  handle(exit: IoExit): void {
    const claim = this.claims.find((candidate) => exit.port >= candidate.start && exit.port < candidate.start + candidate.length);
    if (!claim) this.unclaimed.set(exit.port, (this.unclaimed.get(exit.port) ?? 0) + 1);
    const view = new DataView(exit.data.buffer, exit.data.byteOffset, exit.data.byteLength);
    for (let i = 0; i < exit.count; i++) {
      const at = i * exit.size;
      if (exit.direction === 'out') {
        claim?.device.write(exit.port - claim.start, exit.size, readSized(view, at, exit.size));
      } else {
        const value = claim ? claim.device.read(exit.port - claim.start, exit.size) : 0xffffffff;
        writeSized(view, at, exit.size, value);
      }
    }
  }
}

function readSized(view: DataView, at: number, size: number): number {
  return size === 1 ? view.getUint8(at) : size === 2 ? view.getUint16(at, true) : view.getUint32(at, true);
}

function writeSized(view: DataView, at: number, size: number, value: number): void {
  if (size === 1) view.setUint8(at, value & 0xff);
  else if (size === 2) view.setUint16(at, value & 0xffff, true);
  else view.setUint32(at, value >>> 0, true);
}
