// A 16550A UART (COM1 on a PC: ports 0x3f8-0x3ff, ISA IRQ 4): the console in both directions. Every
// byte the guest transmits goes out at once (the transmitter is always empty again); received bytes
// wait in a queue the guest drains through RBR. The interrupt output follows the IIR: it is high while
// an enabled condition is pending, and the VMM drives the irqchip's line with it.
import type { PortDevice } from './port-bus';

export const COM1_PORT = 0x3f8;
export const COM1_IRQ = 4;
export const UART_PORTS = 8;

const reg = { data: 0, ier: 1, iir: 2, lcr: 3, mcr: 4, lsr: 5, msr: 6, scratch: 7 } as const;
const IER_RX_AVAILABLE = 0x01;
const IER_THR_EMPTY = 0x02;
const IIR_NONE = 0x01;
const IIR_THR_EMPTY = 0x02;
const IIR_RX_AVAILABLE = 0x04;
const IIR_FIFO_ENABLED = 0xc0;
const FCR_ENABLE_FIFO = 0x01;
const FCR_CLEAR_RX = 0x02;
const LCR_DLAB = 0x80;
const LSR_DATA_READY = 0x01;
const LSR_THR_EMPTY = 0x20;
const LSR_TRANSMITTER_EMPTY = 0x40;
const MCR_LOOPBACK = 0x10;
/** Modem status without loopback: carrier, data set ready and clear to send asserted. */
const MSR_CONNECTED = 0xb0;

export interface UartWiring {
  /** The interrupt output changed level. */
  setIrq(level: boolean): void;
  /** The guest transmitted these bytes. */
  transmit(bytes: Uint8Array): void;
}

/** The UART's registers and unread input, for carrying it to another machine (lib/vmm/migrate). */
export interface UartState {
  ier: number;
  lcr: number;
  mcr: number;
  scratch: number;
  divisor: number;
  fifoEnabled: boolean;
  thrEmptyPending: boolean;
  irqLevel: boolean;
  /** Received bytes the guest has not read yet. */
  unread: number[];
}

export class Uart16550 implements PortDevice {
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scratch = 0;
  private divisor = 0;
  private fifoEnabled = false;
  /** The THR-empty interrupt is pending until the IIR reports it or the guest writes THR. */
  private thrEmptyPending = false;
  private irqLevel = false;
  private received: number[] = [];
  private readAt = 0;

  constructor(private readonly wiring: UartWiring) {}

  /** Bytes typed at the console: the guest reads them from RBR, with an interrupt if it enabled one. */
  receive(bytes: Uint8Array): void {
    for (const byte of bytes) this.received.push(byte);
    this.update();
  }

  saveState(): UartState {
    const { ier, lcr, mcr, scratch, divisor, fifoEnabled, thrEmptyPending, irqLevel } = this;
    return { ier, lcr, mcr, scratch, divisor, fifoEnabled, thrEmptyPending, irqLevel, unread: this.received.slice(this.readAt) };
  }

  /**
   * Takes on a saved state. The interrupt line is not driven: its level is part of the irqchip's state,
   * restored with it.
   */
  restoreState(state: UartState): void {
    ({ ier: this.ier, lcr: this.lcr, mcr: this.mcr, scratch: this.scratch, divisor: this.divisor } = state);
    ({ fifoEnabled: this.fifoEnabled, thrEmptyPending: this.thrEmptyPending, irqLevel: this.irqLevel } = state);
    this.received = [...state.unread];
    this.readAt = 0;
  }

  read(offset: number): number {
    const value = this.readRegister(offset);
    this.update();
    return value;
  }

  write(offset: number, _size: number, value: number): void {
    this.writeRegister(offset, value & 0xff);
    this.update();
  }

  private get rxReady(): boolean {
    return this.readAt < this.received.length;
  }

  private readRegister(offset: number): number {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case reg.data:
        if (dlab) return this.divisor & 0xff;
        return this.takeReceived();
      case reg.ier:
        return dlab ? this.divisor >> 8 : this.ier;
      case reg.iir: {
        const iir = this.pendingInterrupt();
        if (iir === IIR_THR_EMPTY) this.thrEmptyPending = false;
        return iir | (this.fifoEnabled ? IIR_FIFO_ENABLED : 0);
      }
      case reg.lcr: return this.lcr;
      case reg.mcr: return this.mcr;
      case reg.lsr: return (this.rxReady ? LSR_DATA_READY : 0) | LSR_THR_EMPTY | LSR_TRANSMITTER_EMPTY;
      case reg.msr:
        if ((this.mcr & MCR_LOOPBACK) === 0) return MSR_CONNECTED;
        // Loopback: DTR, RTS, OUT1, OUT2 come back as DSR, CTS, RI, DCD (Linux probes the UART this way).
        return ((this.mcr & 0x01) << 5) | ((this.mcr & 0x02) << 3) | ((this.mcr & 0x04) << 4) | ((this.mcr & 0x08) << 4);
      case reg.scratch: return this.scratch;
      default: return 0xff;
    }
  }

  private writeRegister(offset: number, value: number): void {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case reg.data:
        if (dlab) {
          this.divisor = (this.divisor & 0xff00) | value;
        } else {
          if (this.mcr & MCR_LOOPBACK) this.received.push(value);
          else this.wiring.transmit(Uint8Array.of(value));
          this.thrEmptyPending = true;
        }
        break;
      case reg.ier:
        if (dlab) {
          this.divisor = (this.divisor & 0xff) | (value << 8);
        } else {
          // Enabling the THR-empty interrupt with the transmitter empty raises it at once.
          if ((value & IER_THR_EMPTY) && !(this.ier & IER_THR_EMPTY)) this.thrEmptyPending = true;
          this.ier = value & 0x0f;
        }
        break;
      case reg.iir:  // FCR on write
        this.fifoEnabled = (value & FCR_ENABLE_FIFO) !== 0;
        if (value & FCR_CLEAR_RX) this.dropReceived();
        break;
      case reg.lcr: this.lcr = value; break;
      case reg.mcr: this.mcr = value & 0x1f; break;
      case reg.scratch: this.scratch = value; break;
      default: break;  // LSR and MSR are read-only
    }
  }

  private takeReceived(): number {
    if (!this.rxReady) return 0;
    const byte = this.received[this.readAt++]!;
    if (this.readAt === this.received.length) this.dropReceived();
    return byte;
  }

  private dropReceived(): void {
    this.received = [];
    this.readAt = 0;
  }

  /** The IIR's interrupt identification, highest priority first (no line-status or modem interrupts occur). */
  private pendingInterrupt(): number {
    if ((this.ier & IER_RX_AVAILABLE) && this.rxReady) return IIR_RX_AVAILABLE;
    if ((this.ier & IER_THR_EMPTY) && this.thrEmptyPending) return IIR_THR_EMPTY;
    return IIR_NONE;
  }

  private update(): void {
    const level = this.pendingInterrupt() !== IIR_NONE;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.wiring.setIrq(level);
    }
  }
}
