// The MC146818 RTC and CMOS RAM behind ports 0x70 (index; bit 7 masks NMI) and 0x71 (data). Without
// it every read floats to 0xff, "update in progress" never clears, and Linux's rtc_cmos driver polls it
// for tens of seconds. The clock reads the host's UTC time, in BCD and 24-hour mode; the RAM keeps
// what the guest writes.
import type { PortDevice } from './port-bus';

export const CMOS_PORT = 0x70;
export const CMOS_PORTS = 2;

const time = { seconds: 0x00, minutes: 0x02, hours: 0x04, weekday: 0x06, day: 0x07, month: 0x08, year: 0x09, century: 0x32 } as const;
const STATUS_A = 0x0a;
const STATUS_B = 0x0b;
const STATUS_C = 0x0c;
const STATUS_D = 0x0d;
/** Status A: the 32.768 kHz time base and a 1024 Hz rate; bit 7 (update in progress) clear. */
const STATUS_A_DEFAULT = 0x26;
/** Status B: 24-hour mode, BCD. */
const STATUS_B_24H = 0x02;
/** Status D: the battery is good (the RAM and time are valid). */
const STATUS_D_VALID = 0x80;

const bcd = (value: number): number => ((Math.floor(value / 10) << 4) | (value % 10));

export class Cmos implements PortDevice {
  private index = 0;
  private readonly ram = new Uint8Array(128);

  constructor(private readonly now: () => Date = () => new Date()) {
    this.ram[STATUS_A] = STATUS_A_DEFAULT;
    this.ram[STATUS_B] = STATUS_B_24H;
    this.ram[STATUS_D] = STATUS_D_VALID;
  }

  /** The index register and the RAM (the time is the host's anyway), for lib/vmm/migrate. */
  saveState(): { index: number; ram: Uint8Array } {
    return { index: this.index, ram: this.ram.slice() };
  }

  restoreState(state: { index: number; ram: Uint8Array }): void {
    this.index = state.index;
    this.ram.set(state.ram);
  }

  read(offset: number): number {
    if (offset === 0) return this.index;
    const clock = this.now();
    switch (this.index) {
      case time.seconds: return bcd(clock.getUTCSeconds());
      case time.minutes: return bcd(clock.getUTCMinutes());
      case time.hours: return bcd(clock.getUTCHours());
      case time.weekday: return bcd(clock.getUTCDay() + 1);
      case time.day: return bcd(clock.getUTCDate());
      case time.month: return bcd(clock.getUTCMonth() + 1);
      case time.year: return bcd(clock.getUTCFullYear() % 100);
      case time.century: return bcd(Math.floor(clock.getUTCFullYear() / 100));
      case STATUS_C: return 0;  // no interrupt flags: this RTC raises no interrupts
      default: return this.ram[this.index]!;
    }
  }

  write(offset: number, _size: number, value: number): void {
    if (offset === 0) {
      this.index = value & 0x7f;
      return;
    }
    // The guest may set the mode bits of A and B and use the RAM; the time itself stays the host's.
    if (this.index === STATUS_A) this.ram[STATUS_A] = value & 0x7f;
    else if (this.index !== STATUS_C && this.index !== STATUS_D) this.ram[this.index] = value & 0xff;
  }
}
