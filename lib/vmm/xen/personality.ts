// XenPersonality: a LinuxMachine presented to its guest as Xen HVM. It sets up KVM's Xen emulation
// (KVM_XEN_HVM_CONFIG with the hypercall MSR and INTERCEPT_HCALL, so KVM writes the hypercall page and
// passes up the hypercalls it does not do itself) and answers those hypercalls the way Xen does for
// what a Linux HVM guest asks at boot. Everything it set up is in `state`, one object, for saving.
import { type CpuidEntry, type Vcpu, XEN_EVTCHN_PRIORITY_2LEVEL, type XenHvmCaps, type XenHypercallExit } from '../../kvm';
import {
  callbackTypes, evtchnOps, hvmOps, hvmParams, HVM_NR_PARAMS, hypercalls, mapSpaces, memoryOps, restoreXenState, saveXenState,
  schedOps, SharedInfoView, VCPU_INFO_SIZE, vcpuOps, vmAssist, XEN_INVALID_GPA, XenVcpu, XenVm, xenErrno, xenFeatures,
  xenVersionOps, type XenVmState,
} from '../../xen';
import { withXenLeaves } from './cpuid';
import { EventChannels, type Answer, type PortBinding } from './event-channels';
import { GuestVirtual, PageFault } from './guest-virtual';
import type { XenHost } from './host';

export interface XenOptions {
  /** Xen's version, major << 16 | minor (default 4.17). */
  version?: number;
  /** The hypercall-page MSR (default 0x40000000, as QEMU's). */
  hypercallMsr?: number;
  /**
   * Offer per-vCPU upcall vectors (HVMOP_set_evtchn_upcall_vector, CPUID leaf base+4 EAX bit 6; default
   * true): a Linux guest then takes its events through each vCPU's LAPIC. false: it uses the global
   * callback vector (HVM_PARAM_CALLBACK_IRQ), which KVM injects like an ExtINT.
   */
  perVcpuUpcall?: boolean;
}

/** Per vCPU: where the guest placed its areas (guest physical addresses). */
export interface XenVcpuPlaces {
  /** The vcpu_info the vCPU registered (before that, it is its slot in shared_info). */
  vcpuInfo?: number;
  runstate?: number | undefined;
  /** HVMOP_set_evtchn_upcall_vector's vector for this vCPU. */
  upcallVector?: number;
  timeInfo?: number | undefined;
}

/** All the Xen state the personality set up (KVM holds the rest: lib/xen saveXenState). */
export interface XenPersonalityState {
  version: number;
  hypercallMsr: number;
  /** The shared_info page's frame, once the guest placed it. */
  sharedInfoGfn: number | undefined;
  /** HVM_PARAM_CALLBACK_IRQ's vector (0: none, or a via that is not a vector). */
  callbackVector: number;
  vcpus: XenVcpuPlaces[];
  ports: PortBinding[];
  /** SCHEDOP_shutdown's reason, if the guest said it is going down (a panic says crash, 3). */
  shutdownReason: number | undefined;
  /** The HVM params the guest set, [index, value]. */
  params: Array<[number, bigint]>;
}

/** A paused Xen machine's whole Xen state: the personality's and KVM's (lib/xen saveXenState). */
export interface XenSavedState {
  personality: XenPersonalityState;
  kvm: XenVmState;
}

/** KVM lacks what the personality needs (the kernel's capability is named). */
export class XenUnavailableError extends Error {
  constructor(readonly missing: string) {
    super(`KVM's Xen emulation lacks ${missing} (KVM_CAP_XEN_HVM)`);
    this.name = 'XenUnavailableError';
  }
}

const DEFAULT_VERSION = (4 << 16) | 17;
const DEFAULT_MSR = 0x40000000;
const DOMID_SELF = 0x7ff0;
/** shared_info holds vcpu_info[32]. */
const MAX_VIRT_CPUS = 32;
const PAGE = 4096;
/** What we offer in XENVER_get_features submap 0: a PV-on-HVM guest with a callback vector and pvclock. */
const FEATURES = [
  xenFeatures.writable_descriptor_tables, xenFeatures.auto_translated_physmap, xenFeatures.supervisor_mode_kernel,
  xenFeatures.hvm_callback_vector, xenFeatures.hvm_safe_pvclock,
].reduce((bits, bit) => bits | (1 << bit), 0) >>> 0;
const NEEDED = ['INTERCEPT_HCALL', 'SHARED_INFO', 'EVTCHN_2LEVEL', 'EVTCHN_SEND'] as const;

const fail = (errno: keyof typeof xenErrno): Answer => -xenErrno[errno];

export class XenPersonality {
  readonly xen: XenVm;
  readonly events: EventChannels;
  /** Hypercalls answered with an error, "name op" → times: what the guest asked that we do not offer. */
  readonly refused = new Map<string, number>();
  /** Every hypercall KVM passed up, "name op" → times: what reaches this VMM rather than staying in KVM. */
  readonly calls = new Map<string, number>();
  private readonly version: number;
  private readonly hypercallMsr: number;
  private readonly perVcpuUpcall: boolean;
  private sharedInfoGfn: number | undefined;
  private callbackVector = 0;
  private shutdownReason: number | undefined;
  private readonly places: XenVcpuPlaces[] = [];
  private readonly params = new Map<number, bigint>();

  constructor(private readonly host: XenHost, private readonly caps: XenHvmCaps, options: XenOptions = {}) {
    for (const flag of NEEDED) if (!caps.has(flag)) throw new XenUnavailableError(flag);
    this.version = options.version ?? DEFAULT_VERSION;
    this.hypercallMsr = options.hypercallMsr ?? DEFAULT_MSR;
    this.perVcpuUpcall = options.perVcpuUpcall ?? true;
    this.xen = new XenVm(host.vm);
    this.xen.configure({ msr: this.hypercallMsr, flags: ['INTERCEPT_HCALL', 'EVTCHN_SEND'] });
    this.xen.set('LONG_MODE', true);
    // KVM answers XENVER_version itself once it knows it.
    this.xen.set('XEN_VERSION', this.version);
    this.events = new EventChannels(host, this.xen);
  }

  /**
   * Gives a new vCPU its Xen vCPU id (the one its CPUID leaf says). KVM's default is meant to be its
   * index, but KVM 6.12 reads the index before it is assigned (every vCPU gets 0), and then refuses
   * the timer operations of every vCPU but the first: QEMU, too, always sets it.
   */
  addVcpu(vcpu: Vcpu): void {
    new XenVcpu(vcpu).set('VCPU_ID', vcpu.id);
  }

  /** vCPU `id`'s CPUID: KVM's hypervisor leaves replaced by Xen's. */
  cpuid(entries: readonly CpuidEntry[], id: number): CpuidEntry[] {
    return withXenLeaves(entries, id, { version: this.version, hypercallMsr: this.hypercallMsr, perVcpuUpcall: this.perVcpuUpcall });
  }

  get state(): XenPersonalityState {
    return {
      version: this.version, hypercallMsr: this.hypercallMsr, sharedInfoGfn: this.sharedInfoGfn, callbackVector: this.callbackVector,
      vcpus: Array.from({ length: this.host.cpus }, (_, id) => ({ ...this.places[id] })), ports: this.events.bindings,
      shutdownReason: this.shutdownReason, params: [...this.params],
    };
  }

  /** The Xen state of the paused machine, for the destination of a migration (lib/vmm/migrate). */
  save(): XenSavedState {
    const kvm = saveXenState(this.xen, this.xenVcpus(), this.caps);
    // A vcpu_info taken away for a moment (as while a VMM copies it) belongs where the guest put it.
    for (const vcpu of kvm.vcpus) {
      const gpa = this.vcpuInfoGpa(vcpu.id);
      if ((vcpu.vcpuInfo === undefined || vcpu.vcpuInfo === XEN_INVALID_GPA) && gpa !== undefined) vcpu.vcpuInfo = BigInt(gpa);
    }
    return { personality: this.state, kvm };
  }

  /** Where vCPU `id`'s vcpu_info is: the one it registered, else its slot in shared_info (if placed). */
  vcpuInfoGpa(id: number): number | undefined {
    const registered = this.places[id]?.vcpuInfo;
    if (registered !== undefined) return registered;
    return this.sharedInfoGfn === undefined || id >= MAX_VIRT_CPUS ? undefined : this.sharedInfoGfn * PAGE + id * VCPU_INFO_SIZE;
  }

  /**
   * The guest pages KVM writes events into without marking them in the dirty log (shared_info and each
   * vcpu_info): a migration copies them in its stop-and-copy whatever the log says, as QEMU does.
   */
  unloggedPages(): number[] {
    const pages = new Set<number>();
    if (this.sharedInfoGfn !== undefined) pages.add(this.sharedInfoGfn);
    for (let id = 0; id < this.host.cpus; id++) {
      const gpa = this.vcpuInfoGpa(id);
      if (gpa !== undefined) for (const end of [gpa, gpa + VCPU_INFO_SIZE - 1]) pages.add(Math.floor(end / PAGE));
    }
    return [...pages];
  }

  /**
   * Takes over a migrated guest's Xen state before this machine's vCPUs first run, its memory, vCPU
   * registers and kvmclock restored already (a timer's deadline is in kvmclock time).
   */
  restore(saved: XenSavedState): void {
    const { personality } = saved;
    if (personality.version !== this.version || personality.hypercallMsr !== this.hypercallMsr || personality.vcpus.length !== this.host.cpus) {
      throw new Error('the saved Xen state is of a differently configured machine (Xen version, hypercall MSR or vCPUs)');
    }
    this.sharedInfoGfn = personality.sharedInfoGfn;
    this.callbackVector = personality.callbackVector;
    this.shutdownReason = personality.shutdownReason;
    this.places.length = 0;
    personality.vcpus.forEach((places, id) => { this.places[id] = { ...places }; });
    this.params.clear();
    for (const [index, value] of personality.params) this.params.set(index, value);
    this.events.adopt(personality.ports);
    restoreXenState(this.xen, this.xenVcpus(), saved.kvm);
  }

  private xenVcpus(): XenVcpu[] {
    return Array.from({ length: this.host.cpus }, (_, id) => new XenVcpu(this.host.vcpu(id)));
  }

  /** Answers a hypercall KVM passed up; the vCPU runs on with the result in RAX. */
  async hypercall(vcpu: Vcpu, exit: XenHypercallExit): Promise<void> {
    let answer: Answer;
    try {
      answer = await this.dispatch(vcpu, Number(exit.input), exit.params);
    } catch (error) {
      if (!(error instanceof PageFault)) throw error;
      answer = fail('EFAULT');
    }
    const key = `${nameOf(hypercalls, Number(exit.input))} ${exit.params[0]}`;
    count(this.calls, key);
    if (answer < 0) count(this.refused, key);
    exit.setResult(BigInt.asUintN(64, BigInt(answer)));
  }

  private dispatch(vcpu: Vcpu, call: number, params: bigint[]): Answer | Promise<Answer> {
    const [a = 0n, b = 0n, c = 0n] = params;
    const memory = new GuestVirtual(vcpu, this.host.vm.memory);
    switch (call) {
      case hypercalls.xen_version: return this.xenVersion(Number(a), b, memory);
      case hypercalls.memory_op: return this.memoryOp(Number(a), b, memory);
      case hypercalls.hvm_op: return this.hvmOp(Number(a), b, memory);
      case hypercalls.vcpu_op: return this.vcpuOp(vcpu, Number(a), Number(b), c, memory);
      case hypercalls.event_channel_op: return this.eventChannelOp(Number(a), b, memory);
      case hypercalls.vm_assist: return this.vmAssist(Number(a), Number(b));
      case hypercalls.sched_op: return this.schedOp(Number(a), b, memory);
      case hypercalls.set_timer_op: return this.singleshot(vcpu.id, vcpu.id, a);
      // No grant tables, no physical IRQs, not the control domain: Xen's answer when a call is absent.
      default: return fail('ENOSYS');
    }
  }

  private xenVersion(cmd: number, arg: bigint, memory: GuestVirtual): Answer {
    switch (cmd) {
      case xenVersionOps.version: return this.version;
      case xenVersionOps.extraversion: memory.write(arg, cString('.kvm-xen', 16)); return 0;
      case xenVersionOps.capabilities: memory.write(arg, cString('hvm-3.0-x86_64', 1024)); return 0;
      case xenVersionOps.changeset: memory.write(arg, cString('kvm-xen', 64)); return 0;
      case xenVersionOps.guest_handle: memory.write(arg, new Uint8Array(16)); return 0;
      case xenVersionOps.pagesize: return PAGE;
      case xenVersionOps.get_features: {
        // struct xen_feature_info { u32 submap_idx; u32 submap; }
        memory.write32(arg + 4n, memory.read32(arg) === 0 ? FEATURES : 0);
        return 0;
      }
      default: return fail('ENOSYS');
    }
  }

  private async memoryOp(cmd: number, arg: bigint, memory: GuestVirtual): Promise<Answer> {
    if (cmd !== memoryOps.add_to_physmap) return fail('ENOSYS');
    // struct xen_add_to_physmap { u16 domid; u16 size; u32 space; u64 idx; u64 gpfn; }
    const bytes = new DataView(memory.read(arg, 24).buffer);
    if (bytes.getUint16(0, true) !== DOMID_SELF) return fail('ESRCH');
    const space = bytes.getUint32(4, true);
    const idx = bytes.getBigUint64(8, true);
    const gpfn = bytes.getBigUint64(16, true);
    // Only shared_info can be placed: there are no grant tables to map.
    if (space !== mapSpaces.shared_info || idx !== 0n) return fail('EINVAL');
    // Xen puts a fresh page there: whatever the RAM held (boot data, say) must not read as pending events.
    this.host.vm.memory.bytes(Number(gpfn) * PAGE, PAGE).fill(0);
    this.xen.set('SHARED_INFO', gpfn);
    this.sharedInfoGfn = Number(gpfn);
    // Until a vCPU registers its own vcpu_info, Xen's is the one in shared_info (the first 32 vCPUs).
    // KVM keeps the pvclock only in a vcpu_info given to it, so it is given these ones, as QEMU does.
    await Promise.all(Array.from({ length: Math.min(this.host.cpus, MAX_VIRT_CPUS) }, (_, id) => id)
      .filter((id) => this.places[id]?.vcpuInfo === undefined)
      .map((id) => this.host.onVcpu(id, (vcpu) => new XenVcpu(vcpu).set('VCPU_INFO', BigInt(this.sharedInfoGfn! * PAGE + id * VCPU_INFO_SIZE)))));
    return 0;
  }

  private async hvmOp(op: number, arg: bigint, memory: GuestVirtual): Promise<Answer> {
    if (op === hvmOps.set_evtchn_upcall_vector && this.perVcpuUpcall) {
      // struct xen_hvm_evtchn_upcall_vector { u32 vcpu; u8 vector; }: delivered through that vCPU's LAPIC.
      const target = memory.read32(arg);
      const vector = memory.read(arg + 4n, 1)[0]!;
      if (target >= this.host.cpus) return fail('ENOENT');
      if (vector < 0x10) return fail('EINVAL');
      await this.host.onVcpu(target, (vcpu) => new XenVcpu(vcpu).set('UPCALL_VECTOR', vector));
      (this.places[target] ??= {}).upcallVector = vector;
      return 0;
    }
    if (op !== hvmOps.set_param && op !== hvmOps.get_param) return fail('ENOSYS');
    // struct xen_hvm_param { u16 domid; u32 index (at 4); u64 value (at 8); }
    const index = memory.read32(arg + 4n);
    if (index >= HVM_NR_PARAMS) return fail('EINVAL');
    if (op === hvmOps.get_param) {
      // An unset parameter reads as 0 on Xen: no xenstore page or event channel, no console ring.
      const value = new Uint8Array(8);
      new DataView(value.buffer).setBigUint64(0, this.params.get(index) ?? 0n, true);
      memory.write(arg + 8n, value);
      return 0;
    }
    if (index !== hvmParams.callback_irq) return fail('EPERM');
    const value = memory.read64(arg + 8n);
    const type = Number(value >> 56n);
    // A vector callback is offered; a GSI or PCI INTx one only once vCPU 0 has its own upcall vector:
    // Linux then sets GSI 1 "to trick the toolstack" (xen_set_upcall_vector), and Xen delivers to
    // a vCPU with an upcall vector through it, never through the via. With no platform device, a via
    // that would really be raised cannot be offered.
    const viaUnused = type !== callbackTypes.vector && this.places[0]?.upcallVector !== undefined;
    if (value !== 0n && type !== callbackTypes.vector && !viaUnused) return fail('EINVAL');
    // The global vector: none unless the via is one (KVM would otherwise inject the GSI's number).
    const vector = type === callbackTypes.vector ? Number(value & 0xffn) : 0;
    this.xen.set('UPCALL_VECTOR', vector);
    this.callbackVector = vector;
    this.params.set(index, value);
    return 0;
  }

  private async vcpuOp(caller: Vcpu, cmd: number, target: number, arg: bigint, memory: GuestVirtual): Promise<Answer> {
    if (!Number.isInteger(target) || target < 0 || target >= this.host.cpus) return fail('ENOENT');
    const places = (this.places[target] ??= {});
    const onTarget = (work: (xen: XenVcpu) => void): Promise<void> => this.host.onVcpu(target, (vcpu) => work(new XenVcpu(vcpu)));
    switch (cmd) {
      case vcpuOps.register_vcpu_info: {
        // struct vcpu_register_vcpu_info { u64 mfn; u32 offset; u32 rsvd; }: once per vCPU, as on Xen.
        if (places.vcpuInfo !== undefined) return fail('EINVAL');
        const frame = memory.read64(arg);
        const offset = memory.read32(arg + 8n);
        if (offset > PAGE - 64) return fail('EINVAL');
        const gpa = Number(frame) * PAGE + offset;
        await onTarget((xen) => xen.set('VCPU_INFO', BigInt(gpa)));
        places.vcpuInfo = gpa;
        return 0;
      }
      case vcpuOps.register_runstate_memory_area: {
        if (!this.caps.has('RUNSTATE')) return fail('ENOSYS');
        const gpa = this.placeOf(memory, memory.read64(arg));
        await onTarget((xen) => xen.set('RUNSTATE_ADDR', gpa ?? XEN_INVALID_GPA));
        places.runstate = gpa === undefined ? undefined : Number(gpa);
        return 0;
      }
      case vcpuOps.register_vcpu_time_memory_area: {
        const gpa = this.placeOf(memory, memory.read64(arg));
        await onTarget((xen) => xen.set('VCPU_TIME_INFO', gpa ?? XEN_INVALID_GPA));
        places.timeInfo = gpa === undefined ? undefined : Number(gpa);
        return 0;
      }
      // There is no periodic timer to stop: the guest then uses the single-shot one.
      case vcpuOps.stop_periodic_timer: return 0;
      case vcpuOps.set_singleshot_timer: return this.singleshot(caller.id, target, memory.read64(arg));
      case vcpuOps.stop_singleshot_timer: return this.singleshot(caller.id, target, 0n);
      case vcpuOps.is_up: return 1;
      default: return fail('ENOSYS');
    }
  }

  /** A guest virtual address as the guest physical one KVM takes; 0 (NULL) unregisters. */
  private placeOf(memory: GuestVirtual, address: bigint): bigint | undefined {
    return address === 0n ? undefined : BigInt(memory.translate(address));
  }

  /**
   * The single-shot timer, should KVM pass it up (it does while no VIRQ_TIMER port is set): armed
   * through the TIMER attribute once the port is bound. Xen only lets a vCPU arm its own.
   */
  private async singleshot(caller: number, target: number, expiresNs: bigint): Promise<Answer> {
    if (caller !== target) return fail('EINVAL');
    const port = this.events.timerPort(target);
    if (port === undefined) return 0;
    await this.host.onVcpu(target, (vcpu) => new XenVcpu(vcpu).set('TIMER', { port, priority: XEN_EVTCHN_PRIORITY_2LEVEL, expiresNs }));
    return 0;
  }

  private eventChannelOp(cmd: number, arg: bigint, memory: GuestVirtual): Answer | Promise<Answer> {
    switch (cmd) {
      case evtchnOps.bind_virq: {
        // struct evtchn_bind_virq { u32 virq; u32 vcpu; u32 port (out); }
        return this.bound(this.events.bindVirq(memory.read32(arg), memory.read32(arg + 4n)), memory, arg + 8n);
      }
      case evtchnOps.bind_ipi: {
        // struct evtchn_bind_ipi { u32 vcpu; u32 port (out); }
        return this.bound(this.events.bindIpi(memory.read32(arg)), memory, arg + 4n);
      }
      case evtchnOps.close: return this.events.close(memory.read32(arg));
      case evtchnOps.send: return this.events.send(memory.read32(arg));
      case evtchnOps.unmask: return this.events.unmask(memory.read32(arg), this.sharedInfo());
      // Per-vCPU ports (VIRQ_TIMER, IPIs) cannot move, as on Xen.
      case evtchnOps.bind_vcpu: return fail('EINVAL');
      // No FIFO event channels (the guest falls back to 2-level), no other domains, no PIRQs.
      default: return fail('ENOSYS');
    }
  }

  /** Writes a newly bound port to the guest's out field. */
  private async bound(binding: Answer | Promise<Answer>, memory: GuestVirtual, out: bigint): Promise<Answer> {
    const port = await binding;
    if (port < 0) return port;
    memory.write32(out, Number(port));
    return 0;
  }

  private sharedInfo(): SharedInfoView | undefined {
    return this.sharedInfoGfn === undefined ? undefined : new SharedInfoView(this.host.vm.memory, this.sharedInfoGfn * PAGE);
  }

  private vmAssist(cmd: number, type: number): Answer {
    if (cmd !== vmAssist.enable || type !== vmAssist.runstate_update_flag || !this.caps.has('RUNSTATE_UPDATE_FLAG')) return fail('EINVAL');
    this.xen.set('RUNSTATE_UPDATE_FLAG', true);
    return 0;
  }

  private schedOp(cmd: number, arg: bigint, memory: GuestVirtual): Answer {
    switch (cmd) {
      // KVM does yield and poll itself; should one come up, returning is a valid (spurious) wake-up.
      case schedOps.yield: case schedOps.poll: case schedOps.block: return 0;
      case schedOps.shutdown:
        // An HVM guest says this from its panic notifier; it then resets through the i8042 as usual.
        this.shutdownReason = memory.read32(arg);
        return 0;
      default: return fail('ENOSYS');
    }
  }
}

function count(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function nameOf(table: Readonly<Record<string, number>>, value: number): string {
  return Object.entries(table).find(([, number]) => number === value)?.[0] ?? `hypercall ${value}`;
}

function cString(text: string, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  bytes.set(Buffer.from(text, 'latin1').subarray(0, size - 1));
  return bytes;
}
