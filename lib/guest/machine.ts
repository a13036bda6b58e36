// The VM builder: a 64-bit long-mode VM running one of our guest programs. It loads the program's
// ELF, builds page tables (identity map of slot 0, more on request), the GDT with a TSS, the IDT whose
// exception gates report to the host, one stack per vCPU, and applies KVM's supported CPUID — the
// TypeScript counterpart of the kernel selftests' kvm_util VM set-up.
import fs from 'node:fs';

import { type Kvm, type Vcpu, type VcpuExit, type Vm, type GuestMemory } from '../kvm';
import { guestProgramPath } from '../paths';
import { gdtEntries, interruptGate, TSS_LIMIT } from './descriptors';
import { parseElf, type ElfImage } from './elf';
import { guestLayout, PAGE_SIZE, selectors } from './layout';
import { PageTables, type MapOptions } from './paging';
import { decodeUcall, GuestAssertionError, GuestExceptionError, UnexpectedExitError, type Ucall } from './ucall';

export interface GuestMachineOptions {
  /** A program name under build/guest (without .elf), or a path to an ELF file. */
  program: string;
  /** Size of slot 0 (default 16 MiB). */
  memorySize?: number;
  /** vCPUs to create, ids 0..n-1 (default 1). */
  vcpus?: number;
  /** Create the in-kernel irqchip before the vCPUs, as the kernel selftests always do (default true). */
  irqchip?: boolean;
  /** Map the xAPIC register page (0xFEE00000) uncached, for guests that use the LAPIC. */
  xapic?: boolean;
  /** Called after the VM exists and before vCPUs are created (VM-wide set-up that must come first). */
  beforeVcpus?: (vm: Vm) => void;
}

export interface UcallRunOptions {
  /** The vCPU to run (default: vCPU 0). */
  vcpu?: Vcpu;
  /** Per KVM_RUN: a run that takes longer ends with an UnexpectedExitError for { reason: 'timeout' }. */
  timeoutMs?: number;
}

/** Ucalls a caller gets back; abort and exception become thrown errors, print goes to onPrint. */
export type StopUcall = Extract<Ucall, { cmd: 'sync' | 'done' }>;

const CR0_PE = 1n << 0n, CR0_MP = 1n << 1n, CR0_ET = 1n << 4n, CR0_NE = 1n << 5n, CR0_WP = 1n << 16n, CR0_PG = 1n << 31n;
const CR4_PAE = 1n << 5n;
const EFER_LME = 1n << 8n, EFER_LMA = 1n << 10n;
const RFLAGS_RESERVED = 2n;

/** A whole-number option of at least `min`: TypeError for a non-number, RangeError otherwise, naming it. */
function integerOption(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number') throw new TypeError(`options.${name} must be a number, got ${typeof value}`);
  if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`options.${name} must be an integer >= ${min}, got ${value}`);
  return value;
}

export class GuestMachine implements Disposable {
  readonly pageTables: PageTables;
  readonly vcpus: Vcpu[] = [];
  /**
   * Where guest prints (GUEST_PRINT) go. The library prints nothing of its own, so they are dropped
   * unless the caller sets this (the tests show them as TAP comments).
   */
  onPrint: (message: string) => void = () => undefined;

  private constructor(readonly vm: Vm, readonly image: ElfImage, memorySize: number) {
    this.pageTables = new PageTables(vm.memory, guestLayout.pageTablePool, guestLayout.pageTablePoolEnd);
    // Everything but page 0, so that a null pointer faults.
    this.pageTables.map(PAGE_SIZE, PAGE_SIZE, memorySize - PAGE_SIZE);
  }

  static create(kvm: Kvm, options: GuestMachineOptions): GuestMachine {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    if (typeof options.program !== 'string' || options.program === '') throw new TypeError('options.program must be a program name or an ELF path');
    const memorySize = integerOption('memorySize', options.memorySize ?? guestLayout.memorySize, PAGE_SIZE);
    if (memorySize % PAGE_SIZE !== 0) throw new RangeError(`options.memorySize must be a multiple of ${PAGE_SIZE}, got ${memorySize}`);
    const vcpuCount = integerOption('vcpus', options.vcpus ?? 1, 1);
    const file = options.program.includes('/') ? options.program : guestProgramPath(options.program);
    const image = parseElf(fs.readFileSync(file));
    const vm = kvm.createVm();
    try {
      vm.addMemory({ slot: guestLayout.slot, guestAddress: 0, size: memorySize });
      if (options.irqchip ?? true) vm.createIrqchip();
      const machine = new GuestMachine(vm, image, memorySize);
      machine.load(memorySize, vcpuCount);
      if (options.xapic) machine.map(guestLayout.xapic, guestLayout.xapic, PAGE_SIZE, { uncached: true });
      options.beforeVcpus?.(vm);
      const cpuid = kvm.supportedCpuid();
      for (let id = 0; id < vcpuCount; id++) machine.vcpus.push(machine.setUpVcpu(id, memorySize, cpuid));
      return machine;
    } catch (error) {
      vm.close();
      throw error;
    }
  }

  get memory(): GuestMemory {
    return this.vm.memory;
  }

  /** vCPU 0. */
  get vcpu(): Vcpu {
    return this.vcpus[0]!;
  }

  /** A guest symbol's address; throws if the program has none by that name. */
  symbol(name: string): number {
    const symbol = this.image.symbols.get(name);
    if (!symbol) throw new Error(`the guest program has no symbol ${name}`);
    return symbol.address;
  }

  /** Maps guest-virtual pages to guest-physical ones. */
  map(gva: number, gpa: number, size: number, options?: MapOptions): void {
    this.pageTables.map(gva, gpa, size, options);
  }

  /** The ucall in `exit`, if it is one; abort and exception throw, print is reported and yields 'print'. */
  ucallOf(exit: VcpuExit): Ucall | undefined {
    const ucall = decodeUcall(exit, this.memory);
    if (!ucall) return undefined;
    if (ucall.cmd === 'abort') throw new GuestAssertionError(ucall.file, ucall.line, ucall.message);
    if (ucall.cmd === 'exception') throw new GuestExceptionError(ucall.vector, ucall.errorCode, ucall.rip, ucall.cr2);
    if (ucall.cmd === 'print') this.onPrint(ucall.message);
    return ucall;
  }

  /** Runs a vCPU (default: vCPU 0) on this thread until it syncs or is done; any other exit throws. */
  runUntilUcall(options: UcallRunOptions = {}): StopUcall {
    const vcpu = options.vcpu ?? this.vcpu;
    for (;;) {
      const stop = this.stopFrom(vcpu.runSync(options));
      if (stop) return stop;
    }
  }

  /** Like runUntilUcall, with the guest on its own thread: the event loop runs meanwhile. */
  async runUntilUcallAsync(options: UcallRunOptions = {}): Promise<StopUcall> {
    const vcpu = options.vcpu ?? this.vcpu;
    for (;;) {
      const stop = this.stopFrom(await vcpu.runAsync(options));
      if (stop) return stop;
    }
  }

  close(): void {
    this.vm.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private stopFrom(exit: VcpuExit): StopUcall | undefined {
    const ucall = this.ucallOf(exit);
    if (!ucall) throw new UnexpectedExitError(exit);
    return ucall.cmd === 'print' ? undefined : (ucall as StopUcall);
  }

  private load(memorySize: number, vcpuCount: number): void {
    const stacksBottom = memorySize - vcpuCount * guestLayout.stackSize;
    for (const segment of this.image.segments) {
      if (segment.address < guestLayout.programBase || segment.address + segment.memorySize > stacksBottom) {
        throw new RangeError(`guest segment 0x${segment.address.toString(16)}+0x${segment.memorySize.toString(16)} does not fit the memory map`);
      }
      this.memory.bytes(segment.address, segment.memorySize).fill(0);
      this.memory.writeBytes(segment.address, segment.data);
    }
    gdtEntries(guestLayout.tss).forEach((entry, i) => this.memory.write64(guestLayout.gdt + i * 8, entry));
    // The first 32 gates report exceptions to the host; the program installs any others itself.
    const idt = this.symbol('guest_idt');
    const stubs = this.symbol('guest_exception_stubs');
    for (let vector = 0; vector < 32; vector++) {
      const [low, high] = interruptGate(Number(this.memory.read64(stubs + vector * 8)));
      this.memory.write64(idt + vector * 16, low);
      this.memory.write64(idt + vector * 16 + 8, high);
    }
  }

  private setUpVcpu(id: number, memorySize: number, cpuid: ReturnType<Kvm['supportedCpuid']>): Vcpu {
    const vcpu = this.vm.createVcpu(id);
    vcpu.setCpuid(cpuid);
    const flat = { base: 0n, limit: 0xffffffff, g: 1, present: 1, s: 1, dpl: 0, avl: 0, unusable: 0 };
    const data = { ...flat, selector: selectors.data, type: 3, db: 1, l: 0 };
    vcpu.setSregs({
      cr0: CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG,
      cr3: BigInt(this.pageTables.root),
      cr4: CR4_PAE,
      efer: EFER_LME | EFER_LMA,
      cs: { ...flat, selector: selectors.code, type: 11, db: 0, l: 1 },
      ds: data, es: data, fs: data, gs: data, ss: data,
      tr: { base: BigInt(guestLayout.tss), limit: TSS_LIMIT, selector: selectors.tss, type: 11, present: 1, s: 0, dpl: 0, db: 0, l: 0, g: 0, avl: 0, unusable: 0 },
      ldt: { base: 0n, limit: 0, selector: 0, type: 2, present: 0, s: 0, dpl: 0, db: 0, l: 0, g: 0, avl: 0, unusable: 1 },
      gdt: { base: BigInt(guestLayout.gdt), limit: gdtEntries(guestLayout.tss).length * 8 - 1 },
      idt: { base: BigInt(this.symbol('guest_idt')), limit: 256 * 16 - 1 },
    });
    const stackTop = memorySize - id * guestLayout.stackSize;
    vcpu.setRegs({ rip: BigInt(this.image.entry), rsp: BigInt(stackTop - 8), rflags: RFLAGS_RESERVED });
    return vcpu;
  }
}
