// Live views of Xen guest structures in guest memory: every read and write goes straight to the
// mapping (DataView at the structure's GPA), so the host sees what KVM and the guest wrote a moment
// ago. Unaligned and page-straddling fields work as long as the bytes lie in one memory slot.
import type { GuestMemory } from '../kvm';
import {
  maxPorts, portWord, pvclockLayout, PVCLOCK_SIZE, runstateLayout, sharedInfoLayout, vcpuInfoLayout, VCPU_INFO_SIZE,
  wallClockLayout, wordBits, type AbiMode,
} from './abi';

function checkPort(port: number, mode: AbiMode): void {
  if (!Number.isInteger(port) || port < 0 || port >= maxPorts(mode)) {
    throw new RangeError(`event-channel port ${port} is out of range for ${mode} mode (0..${maxPorts(mode) - 1})`);
  }
}

export interface PvclockTime {
  version: number;
  tscTimestamp: bigint;
  systemTime: bigint;
  tscToSystemMul: number;
  tscShift: number;
  flags: number;
}

export class PvclockView {
  constructor(private readonly memory: GuestMemory, readonly gpa: number) {}

  read(): PvclockTime {
    const v = this.memory.view(this.gpa, PVCLOCK_SIZE);
    return {
      version: v.getUint32(pvclockLayout.version, true),
      tscTimestamp: v.getBigUint64(pvclockLayout.tscTimestamp, true),
      systemTime: v.getBigUint64(pvclockLayout.systemTime, true),
      tscToSystemMul: v.getUint32(pvclockLayout.tscToSystemMul, true),
      tscShift: v.getInt8(pvclockLayout.tscShift),
      flags: v.getUint8(pvclockLayout.flags),
    };
  }

  get version(): number {
    return this.memory.read32(this.gpa + pvclockLayout.version);
  }
}

export interface WallClock {
  version: number;
  sec: number;
  nsec: number;
}

/** One vcpu_info (64 bytes), in shared_info or wherever VCPU_INFO points. */
export class VcpuInfoView {
  private readonly layout;

  constructor(private readonly memory: GuestMemory, readonly gpa: number, readonly mode: AbiMode = 'long') {
    this.layout = vcpuInfoLayout[mode];
    memory.regionOf(gpa, VCPU_INFO_SIZE);
  }

  get upcallPending(): number { return this.memory.read8(this.gpa + this.layout.upcallPending); }
  set upcallPending(value: number) { this.memory.write8(this.gpa + this.layout.upcallPending, value); }
  get upcallMask(): number { return this.memory.read8(this.gpa + this.layout.upcallMask); }
  set upcallMask(value: number) { this.memory.write8(this.gpa + this.layout.upcallMask, value); }

  /** evtchn_pending_sel: bit w set means "look at word w of evtchn_pending". */
  get pendingSel(): bigint {
    return this.mode === 'long' ? this.memory.read64(this.gpa + this.layout.pendingSel) : BigInt(this.memory.read32(this.gpa + this.layout.pendingSel));
  }
  set pendingSel(value: bigint) {
    if (this.mode === 'long') this.memory.write64(this.gpa + this.layout.pendingSel, value);
    else this.memory.write32(this.gpa + this.layout.pendingSel, Number(value & 0xffffffffn));
  }

  /** Whether the index bit for `port` is set in evtchn_pending_sel. */
  portSelected(port: number): boolean {
    checkPort(port, this.mode);
    return ((this.pendingSel >> BigInt(portWord(port, this.mode).word)) & 1n) === 1n;
  }

  get time(): PvclockView {
    return new PvclockView(this.memory, this.gpa + this.layout.time);
  }
}

/** shared_info: vcpu_info[32], the 2-level event-channel bitmaps and the wall clock. */
export class SharedInfoView {
  private readonly layout;

  constructor(private readonly memory: GuestMemory, readonly gpa: number, readonly mode: AbiMode = 'long') {
    this.layout = sharedInfoLayout[mode];
    memory.regionOf(gpa, 4096);
  }

  vcpuInfo(index: number): VcpuInfoView {
    if (!Number.isInteger(index) || index < 0 || index >= 32) throw new RangeError(`shared_info has vcpu_info[0..31], not [${index}]`);
    return new VcpuInfoView(this.memory, this.gpa + this.layout.vcpuInfo + index * VCPU_INFO_SIZE, this.mode);
  }

  /** evtchn_pending[word] (64-bit words in long mode, 32-bit in compat). */
  pendingWord(word: number): bigint { return this.readWord(this.layout.pending, word); }
  setPendingWord(word: number, value: bigint): void { this.writeWord(this.layout.pending, word, value); }
  /** evtchn_mask[word]. */
  maskWord(word: number): bigint { return this.readWord(this.layout.mask, word); }
  setMaskWord(word: number, value: bigint): void { this.writeWord(this.layout.mask, word, value); }

  isPending(port: number): boolean { return this.readBit(this.layout.pending, port); }
  setPending(port: number, pending: boolean): void { this.writeBit(this.layout.pending, port, pending); }
  isMasked(port: number): boolean { return this.readBit(this.layout.mask, port); }
  setMasked(port: number, masked: boolean): void { this.writeBit(this.layout.mask, port, masked); }

  get wallClock(): WallClock {
    const v = this.memory.view(this.gpa + this.layout.wallClock, 12);
    return { version: v.getUint32(wallClockLayout.version, true), sec: v.getUint32(wallClockLayout.sec, true), nsec: v.getUint32(wallClockLayout.nsec, true) };
  }

  /** The 12 wall-clock bytes, for saving and restoring around a remap. */
  wallClockBytes(): Uint8Array {
    return this.memory.bytes(this.gpa + this.layout.wallClock, 12);
  }

  private wordAddress(base: number, word: number): number {
    const words = maxPorts(this.mode) / wordBits(this.mode);
    if (!Number.isInteger(word) || word < 0 || word >= words) throw new RangeError(`event-channel word ${word} is out of range (0..${words - 1})`);
    return this.gpa + base + word * (wordBits(this.mode) / 8);
  }

  private readWord(base: number, word: number): bigint {
    const at = this.wordAddress(base, word);
    return this.mode === 'long' ? this.memory.read64(at) : BigInt(this.memory.read32(at));
  }

  private writeWord(base: number, word: number, value: bigint): void {
    const at = this.wordAddress(base, word);
    if (this.mode === 'long') this.memory.write64(at, value);
    else this.memory.write32(at, Number(value & 0xffffffffn));
  }

  private readBit(base: number, port: number): boolean {
    checkPort(port, this.mode);
    const { word, bit } = portWord(port, this.mode);
    return ((this.readWord(base, word) >> BigInt(bit)) & 1n) === 1n;
  }

  private writeBit(base: number, port: number, set: boolean): void {
    checkPort(port, this.mode);
    const { word, bit } = portWord(port, this.mode);
    const mask = 1n << BigInt(bit);
    const old = this.readWord(base, word);
    this.writeWord(base, word, set ? old | mask : old & ~mask);
  }
}

export interface RunstateInfo {
  state: number;
  stateEntryTime: bigint;
  /** running, runnable, blocked, offline (ns). */
  time: [bigint, bigint, bigint, bigint];
}

/** vcpu_runstate_info at any address (it may straddle a page boundary, as the test places it). */
export class RunstateView {
  private readonly layout;

  constructor(private readonly memory: GuestMemory, readonly gpa: number, readonly mode: AbiMode = 'long') {
    this.layout = runstateLayout[mode];
    memory.regionOf(gpa, this.layout.size);
  }

  get size(): number {
    return this.layout.size;
  }

  get state(): number { return this.memory.read32(this.gpa + this.layout.state); }
  set state(value: number) { this.memory.write32(this.gpa + this.layout.state, value); }
  get stateEntryTime(): bigint { return this.memory.read64(this.gpa + this.layout.stateEntryTime); }

  /** time[i]; i may be 4 to read the word just past the structure (overrun checks). */
  time(index: number): bigint {
    return this.memory.read64(this.gpa + this.layout.time + index * 8);
  }

  read(): RunstateInfo {
    return { state: this.state, stateEntryTime: this.stateEntryTime, time: [this.time(0), this.time(1), this.time(2), this.time(3)] };
  }

  /** Whether state_entry_time equals the sum of the four times (mod 2^64, as in C), as KVM keeps it. */
  timesAddUp(): boolean {
    const r = this.read();
    return r.stateEntryTime === (r.time[0] + r.time[1] + r.time[2] + r.time[3]) % (1n << 64n);
  }
}
