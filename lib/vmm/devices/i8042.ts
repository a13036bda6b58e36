// The part of the i8042 keyboard controller a firmware-less PC needs: the reset line. Linux's reboot
// path (reboot=k, and the fallback after ACPI) pulses it by writing 0xfe to the command port 0x64, as
// kvmtool and Firecracker also take it. No keyboard, and no controller to probe: the status register
// says the output buffer is always full and the input buffer always empty. Linux's i8042 driver then
// reads 16 bytes of nothing and gives up at once ("No controller found") — a status of 0 instead keeps
// it waiting for answers in a loop of thousands of reads, each an exit — and the reboot path's wait for
// an empty input buffer ends at its first read.
import type { PortDevice } from './port-bus';

export const I8042_DATA_PORT = 0x60;
export const I8042_COMMAND_PORT = 0x64;
const PULSE_RESET = 0xfe;
const STATUS_OUTPUT_FULL = 0x01;

/** Claims ports 0x60-0x64 (0x61 belongs to the in-kernel PIT's speaker and never exits). */
export class I8042 implements PortDevice {
  constructor(private readonly onReset: () => void) {}

  read(offset: number): number {
    return offset === I8042_COMMAND_PORT - I8042_DATA_PORT ? STATUS_OUTPUT_FULL : 0;
  }

  write(offset: number, _size: number, value: number): void {
    if (offset === I8042_COMMAND_PORT - I8042_DATA_PORT && (value & 0xff) === PULSE_RESET) this.onReset();
  }
}
