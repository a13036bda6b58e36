// LinuxMachine: a VM that boots a Linux bzImage without firmware. It owns the KVM objects, the
// platform (in-kernel PIC/IOAPIC/LAPIC and PIT, a 16550 on COM1, the i8042's reset line) and one run
// loop per vCPU, each vCPU running on its own thread (Vcpu.runAsync). Exits it does not handle itself
// go to the `onExit` hook; with `xen`, the machine presents Xen to the guest (lib/vmm/xen) and its
// hypercalls go to the XenPersonality first.
import { describeExit, Kvm, KvmError, type CpuidEntry, type MmioExit, type Vcpu, type VcpuExit, type Vm } from '../kvm';
import { setBootRegisters } from './boot-cpu';
import { parseBzImage } from './bzimage';
import { vcpuCpuid } from './cpuid';
import { Cmos, CMOS_PORT, CMOS_PORTS } from './devices/cmos';
import { I8042, I8042_DATA_PORT } from './devices/i8042';
import { PortBus } from './devices/port-bus';
import { COM1_IRQ, COM1_PORT, UART_PORTS, Uart16550 } from './devices/uart';
import { IDENTITY_MAP_ADDRESS, MAX_MEMORY_MB, TSS_ADDRESS } from './layout';
import { loadLinux } from './loader';
import { XenPersonality, type XenOptions } from './xen/personality';

/** The machine itself, without what is loaded into it. */
export interface PlatformOptions {
  /** vCPUs (default 1). */
  cpus?: number;
  /** Guest RAM in MiB (default 512, at most 3072: RAM stays below the 32-bit MMIO hole). */
  memoryMb?: number;
  /** What the guest writes to its serial console. */
  onConsole: (bytes: Uint8Array) => void;
  /**
   * Exits the machine does not handle; return (or resolve) true if handled (the vCPU then runs on).
   * The vCPU waits while a returned promise is pending; the others run on.
   */
  onExit?: (vcpu: Vcpu, exit: VcpuExit) => boolean | Promise<boolean>;
  /** Present Xen HVM to the guest (CPUID leaves, hypercall MSR, KVM's Xen emulation); true = defaults. */
  xen?: boolean | XenOptions;
  /** The KVM device (default /dev/kvm). */
  device?: string;
}

export interface MachineOptions extends PlatformOptions {
  /** The bzImage's bytes. */
  kernel: Uint8Array;
  initrd?: Uint8Array | undefined;
  cmdline: string;
}

/** Why the machine stopped. */
export type MachineEnd =
  /** The guest pulsed the reset line (i8042 0xfe): Linux's reboot, and its poweroff without ACPI. */
  | { reason: 'reset' }
  /** A vCPU triple-faulted (KVM_EXIT_SHUTDOWN): a reboot's last resort, or a crash. */
  | { reason: 'shutdown'; vcpu: number }
  /** KVM_EXIT_SYSTEM_EVENT (its KVM_SYSTEM_EVENT_* type). */
  | { reason: 'system-event'; vcpu: number; type: number }
  /** stop() was called. */
  | { reason: 'stopped' }
  /** KVM or this VMM could not go on. */
  | { reason: 'failed'; message: string }
  /** The guest went on in another machine (lib/vmm/migrate): this one is closed, `to` runs it. */
  | { reason: 'migrated'; to: LinuxMachine };

const DEFAULT_MEMORY_MB = 512;
/** The one memslot: all of RAM, from guest address 0. */
export const RAM_SLOT = 0;
const MAX_CPUS = 254;

export class LinuxMachine implements Disposable {
  readonly ports = new PortBus();
  readonly console: Uart16550;
  /** MMIO accesses outside RAM and the in-kernel devices (reads answer all ones), by address. */
  readonly unclaimedMmio = new Map<bigint, number>();
  readonly cmos = new Cmos();
  /** The Xen personality when the machine was created with `xen`: all the Xen state it set up. */
  readonly xen: XenPersonality | undefined;
  private readonly vcpuList: Vcpu[] = [];
  /** Work for a vCPU's own loop, done between two of its runs (see onVcpu). */
  private readonly vcpuWork = new Map<number, Array<() => void>>();
  /** The vCPUs whose loop is not in KVM_RUN (handling an exit, paused, ended): work for them runs at once. */
  private readonly handling = new Set<number>();
  private ending: MachineEnd | undefined;
  /** start()'s promise and how it is settled: once ended and no vCPU loop runs. */
  private finished: { promise: Promise<MachineEnd>; settle: (end: MachineEnd) => void } | undefined;
  /** The vCPU loops now running (undefined while paused or before start). */
  private loops: Promise<void> | undefined;
  private paused = false;
  private pendingOutput: Uint8Array[] = [];

  private constructor(private readonly kvm: Kvm, readonly vm: Vm, private readonly options: PlatformOptions, cpuid: (id: number) => readonly CpuidEntry[]) {
    const cpus = options.cpus ?? 1;
    const memoryMb = options.memoryMb ?? DEFAULT_MEMORY_MB;
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_CPUS) throw new RangeError(`cpus must be an integer from 1 to ${MAX_CPUS}`);
    if (!Number.isInteger(memoryMb) || memoryMb < 64 || memoryMb > MAX_MEMORY_MB) throw new RangeError(`memoryMb must be an integer from 64 to ${MAX_MEMORY_MB}`);

    // Before any vCPU: the VMX-only addresses (harmless on SVM), the irqchip, then the PIT on it.
    vm.setTssAddress(TSS_ADDRESS);
    vm.setIdentityMapAddress(BigInt(IDENTITY_MAP_ADDRESS));
    vm.createIrqchip();
    vm.createPit();
    vm.addMemory({ slot: RAM_SLOT, guestAddress: 0, size: memoryMb * 1024 * 1024 });
    const xenOptions = options.xen === true ? {} : options.xen || undefined;
    this.xen = xenOptions && new XenPersonality(this, kvm.xenHvmCaps(), xenOptions);

    for (let id = 0; id < cpus; id++) {
      const vcpu = vm.createVcpu(id);
      // createLike's CPUID has Xen's leaves already: replacing them again gives the same entries.
      const entries = cpuid(id);
      vcpu.setCpuid(this.xen ? this.xen.cpuid(entries, id) : entries);
      this.xen?.addVcpu(vcpu);
      this.vcpuList.push(vcpu);
    }

    this.console = new Uart16550({
      setIrq: (level) => vm.setIrqLine(COM1_IRQ, level),
      transmit: (bytes) => this.queueOutput(bytes),
    });
    this.ports.register(COM1_PORT, UART_PORTS, this.console);
    this.ports.register(I8042_DATA_PORT, 5, new I8042(() => this.end({ reason: 'reset' })));
    this.ports.register(CMOS_PORT, CMOS_PORTS, this.cmos);
  }

  /** Opens KVM, creates and loads the VM; the vCPUs start with start(). */
  static create(options: MachineOptions): LinuxMachine {
    if (!(options.kernel instanceof Uint8Array)) throw new TypeError('kernel must be a Uint8Array (the bzImage)');
    if (typeof options.cmdline !== 'string') throw new TypeError('cmdline must be a string');
    const image = parseBzImage(options.kernel);
    return LinuxMachine.open(options, (kvm) => {
      const supported = kvm.supportedCpuid();
      return (id) => vcpuCpuid(supported, id);
    }, (machine) => {
      const memoryBytes = machine.vm.memory.slot(RAM_SLOT)!.size;
      const entry = loadLinux(machine.vm.memory, { image, initrd: options.initrd, cmdline: options.cmdline, memoryBytes, cpus: machine.cpus, cpuid: machine.vcpuList[0]!.cpuid });
      setBootRegisters(machine.vcpuList[0]!, entry);
    });
  }

  /**
   * A machine shaped like `source` — its memory size, vCPUs with their CPUID, the same console and exit
   * hooks — with nothing loaded: the destination of a migration (lib/vmm/migrate), in a new KVM VM.
   * A Xen machine's copy gets its own personality (KVM_XEN_HVM_CONFIG, each vCPU's Xen vCPU id) from
   * the same options; the guest's Xen state comes with XenPersonality.restore (migrate() does it).
   */
  static createLike(source: LinuxMachine): LinuxMachine {
    const cpuid = source.vcpuList.map((vcpu) => vcpu.cpuid);
    return LinuxMachine.open(source.options, () => (id) => cpuid[id]!, () => undefined);
  }

  private static open(options: PlatformOptions, cpuid: (kvm: Kvm) => (id: number) => readonly CpuidEntry[], load: (machine: LinuxMachine) => void): LinuxMachine {
    if (typeof options.onConsole !== 'function') throw new TypeError('onConsole must be a function');
    const kvm = Kvm.open(options.device);
    let vm: Vm | undefined;
    try {
      vm = kvm.createVm();
      const machine = new LinuxMachine(kvm, vm, options, cpuid(kvm));
      load(machine);
      return machine;
    } catch (error) {
      vm?.close();
      kvm.close();
      throw error;
    }
  }

  get cpus(): number {
    return this.vcpuList.length;
  }

  /** Whether the machine has ended (or is stopping): its devices must not be driven any more. */
  get ended(): boolean {
    return this.ending !== undefined;
  }

  /** KVM_GET_MSR_INDEX_LIST of this machine's /dev/kvm: the MSRs a migration carries. */
  msrIndexList(): number[] {
    return this.kvm.msrIndexList();
  }

  /** The vCPUs, by id. */
  get vcpus(): readonly Vcpu[] {
    return this.vcpuList;
  }

  /** vCPU `id` (0 .. cpus-1). */
  vcpu(id: number): Vcpu {
    const vcpu = this.vcpuList[id];
    if (vcpu === undefined) throw new RangeError(`there is no vCPU ${id} (the machine has ${this.vcpuList.length})`);
    return vcpu;
  }

  /**
   * Runs `work` on vCPU `id`'s loop between two of its runs, and resolves with its result. A vCPU's
   * ioctls wait for its KVM_RUN to return (KVM holds the vCPU's lock while it runs, even while it
   * waits for its SIPI), so one vCPU's hypercall that sets another's Xen attributes goes through here.
   */
  onVcpu<T>(id: number, work: (vcpu: Vcpu) => T): Promise<T> {
    const vcpu = this.vcpu(id);
    if (this.handling.has(id)) {
      try {
        return Promise.resolve(work(vcpu));
      } catch (error) {
        return Promise.reject(error as Error);
      }
    }
    return new Promise<T>((resolve, reject) => {
      const queue = this.vcpuWork.get(id) ?? [];
      this.vcpuWork.set(id, queue);
      queue.push(() => {
        try {
          resolve(work(vcpu));
        } catch (error) {
          reject(error as Error);
        }
      });
      vcpu.kick();
    });
  }

  /** Runs every vCPU on its own thread until the machine ends; resolves with why (once all stopped). */
  start(): Promise<MachineEnd> {
    if (!this.finished) {
      let settle!: (end: MachineEnd) => void;
      const promise = new Promise<MachineEnd>((resolve) => { settle = resolve; });
      this.finished = { promise, settle };
      this.runLoops();
    }
    return this.finished.promise;
  }

  /**
   * Stops every vCPU between two runs, their pending I/O completed (so their registers are the ones to
   * resume from), without ending the machine: resume() goes on. Resolves once all are stopped.
   */
  async pause(): Promise<void> {
    this.paused = true;
    for (const vcpu of this.vcpuList) vcpu.kick();
    await this.loops;
    for (const vcpu of this.vcpuList) await vcpu.completePendingIo();
  }

  /** Runs the vCPUs again after pause(). */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.finished && !this.loops) this.runLoops();
  }

  /** Ends this machine because `to` now runs its guest (start() resolves with that), and closes it. */
  handOver(to: LinuxMachine): void {
    this.flushOutput();
    this.end({ reason: 'migrated', to });
    this.close();
  }

  /** Ends the run (start() then resolves with { reason: 'stopped' } unless it had ended already). */
  stop(): void {
    this.end({ reason: 'stopped' });
  }

  /** Releases the VM and /dev/kvm; stops the vCPUs first if they run. */
  close(): void {
    if (!this.ending) this.end({ reason: 'stopped' });
    this.vm.close();
    this.kvm.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private end(why: MachineEnd): void {
    if (this.ending) return;
    this.ending = why;
    for (const vcpu of this.vcpuList) vcpu.kick();
    if (!this.loops) this.settle();
  }

  private runLoops(): void {
    if (this.ending) {
      this.settle();
      return;
    }
    const loops = Promise.all(this.vcpuList.map((vcpu) => this.runVcpu(vcpu))).then(() => {
      this.loops = undefined;
      if (this.ending) this.settle();
    });
    this.loops = loops;
  }

  private settle(): void {
    this.flushOutput();
    this.finished?.settle(this.ending!);
  }

  private async runVcpu(vcpu: Vcpu): Promise<void> {
    this.handling.delete(vcpu.id);
    while (!this.ending && !this.paused) {
      this.doVcpuWork(vcpu.id);
      let exit: VcpuExit;
      try {
        exit = await vcpu.runAsync();
      } catch (error) {
        // An application processor waiting for its SIPI returns EAGAIN when something (its INIT, the
        // SIPI) wakes it: KVM asks for the run to be repeated, as QEMU and kvmtool do.
        if (error instanceof KvmError && error.code === 'EAGAIN') continue;
        this.end({ reason: 'failed', message: `vCPU ${vcpu.id}: ${(error as Error).message}` });
        break; // to the work left queued below
      }
      try {
        // Only a hypercall or the hook may wait; the I/O path stays synchronous.
        this.handling.add(vcpu.id);
        const waiting = this.handleExit(vcpu, exit);
        if (waiting) await waiting;
      } catch (error) {
        // A device model or the onExit hook failed (an irqchip ioctl, say): the machine cannot go on.
        this.end({ reason: 'failed', message: `vCPU ${vcpu.id}: handling ${describeExit(exit)}: ${(error as Error).message}` });
      } finally {
        this.handling.delete(vcpu.id);
      }
    }
    // Out of KVM_RUN until resume() (or for good): work queued meanwhile runs at once, and work queued
    // while the loop stopped still runs, so whoever waits for it goes on.
    this.handling.add(vcpu.id);
    this.doVcpuWork(vcpu.id);
  }

  private doVcpuWork(id: number): void {
    const queue = this.vcpuWork.get(id);
    if (!queue) return;
    this.vcpuWork.delete(id);
    for (const work of queue) work();
  }

  private handleExit(vcpu: Vcpu, exit: VcpuExit): Promise<void> | undefined {
    switch (exit.reason) {
      case 'io': this.ports.handle(exit); return undefined;
      case 'mmio': this.unclaimed(exit); return undefined;
      case 'kicked': return undefined;
      case 'shutdown': this.end({ reason: 'shutdown', vcpu: vcpu.id }); return undefined;
      case 'system-event': this.end({ reason: 'system-event', vcpu: vcpu.id, type: exit.type }); return undefined;
      // Without the personality, a hypercall is the onExit hook's.
      case 'xen': return this.xen ? this.xen.hypercall(vcpu, exit) : this.otherExit(vcpu, exit);
      default: return this.otherExit(vcpu, exit);
    }
  }

  /** The onExit hook's; a hook that answers at once is handled at once (no promise, no extra turn). */
  private otherExit(vcpu: Vcpu, exit: VcpuExit): Promise<void> | undefined {
    const handled = this.options.onExit?.(vcpu, exit);
    const judge = (yes: boolean | undefined): void => {
      if (!yes) this.end({ reason: 'failed', message: `vCPU ${vcpu.id}: unexpected exit: ${describeExit(exit)}` });
    };
    if (handled instanceof Promise) return handled.then(judge);
    judge(handled);
    return undefined;
  }

  /** Nothing is mapped there: reads float high, writes vanish. */
  private unclaimed(exit: MmioExit): void {
    this.unclaimedMmio.set(exit.address, (this.unclaimedMmio.get(exit.address) ?? 0) + 1);
    if (!exit.isWrite) exit.data.fill(0xff);
  }

  /** Console bytes go out together once per event-loop turn, not one callback per byte. */
  private queueOutput(bytes: Uint8Array): void {
    if (this.pendingOutput.length === 0) setImmediate(() => this.flushOutput());
    this.pendingOutput.push(bytes);
  }

  private flushOutput(): void {
    if (this.pendingOutput.length === 0) return;
    const bytes = Buffer.concat(this.pendingOutput);
    this.pendingOutput = [];
    this.options.onConsole(bytes);
  }
}
