// A Xen guest for the event-channel checks (xen_evtchn_setup_test, xen_migration_test): shared_info at
// 0xC0000000, vcpu_info at +0x40 (as in xen_shinfo_test), the HVM upcall vector 0x10, and a guest that
// reports every upcall it takes (selftests/guests/xen_evtchn_setup_test.c).
import type { Kvm } from '../../lib/kvm';
import { GuestMachine, PAGE_SIZE } from '../../lib/guest';
import { SharedInfoView, VcpuInfoView, XenVcpu, XenVm } from '../../lib/xen';
import { TestFailure, testRequire } from '../lib/ksft';

export const SHINFO_GPA = 0xc0000000;
export const SHINFO_SLOT = 10;
export const VCPU_INFO_GPA = SHINFO_GPA + 0x40;
export const EVTCHN_VECTOR = 0x10;
const XEN_HYPERCALL_MSR = 0x40000000;

const SYNC_READY = 1n;
const SYNC_SAW_IRQ = 2n;

export interface Upcall {
  /** evtchn_pending_sel as the guest's handler found it. */
  sel: bigint;
  /** The lowest pending, unmasked port in the words sel named; -1 if none. */
  port: number;
}

/** KVM_CAP_XEN_HVM must offer everything the event-channel checks use. */
export function requireEventChannels(kvm: Kvm): void {
  const caps = kvm.xenHvmCaps();
  for (const flag of ['SHARED_INFO', 'EVTCHN_2LEVEL', 'EVTCHN_SEND'] as const) {
    testRequire(caps.has(flag), `Requirement not met: xen_caps & KVM_XEN_HVM_CONFIG_${flag} (KVM_CAP_XEN_HVM = ${caps.raw})`);
  }
}

/**
 * The VM-wide Xen set-up event channels need: hypercalls intercepted, EVTCHN_SEND (which also makes
 * KVM handle SCHEDOP_poll itself), long mode, and shared_info at SHINFO_GPA.
 */
export function configureEventChannels(xen: XenVm): void {
  xen.configure({ msr: XEN_HYPERCALL_MSR, flags: ['INTERCEPT_HCALL', 'EVTCHN_SEND'] });
  xen.set('LONG_MODE', true);
  xen.set('SHARED_INFO', BigInt(SHINFO_GPA / PAGE_SIZE));
}

export class XenGuest {
  readonly xen: XenVm;
  readonly xenVcpu: XenVcpu;
  readonly shinfo: SharedInfoView;
  readonly vinfo: VcpuInfoView;

  private constructor(readonly machine: GuestMachine) {
    this.xen = new XenVm(machine.vm);
    this.xenVcpu = new XenVcpu(machine.vcpu);
    this.shinfo = new SharedInfoView(machine.vm.memory, SHINFO_GPA);
    this.vinfo = new VcpuInfoView(machine.vm.memory, VCPU_INFO_GPA);
  }

  /** A VM with Xen configured and its guest program loaded; `boot` runs it until it is ready. */
  static create(kvm: Kvm): XenGuest {
    const machine = GuestMachine.create(kvm, { program: 'xen_evtchn_setup_test' });
    try {
      machine.vm.addMemory({ slot: SHINFO_SLOT, guestAddress: SHINFO_GPA, size: PAGE_SIZE });
      machine.map(SHINFO_GPA, SHINFO_GPA, PAGE_SIZE);
      return new XenGuest(machine);
    } catch (error) {
      machine.close();
      throw error;
    }
  }

  /** The Xen set-up every check starts from, as a VMM does it before the guest runs. */
  configureXen(): void {
    configureEventChannels(this.xen);
    this.xenVcpu.set('VCPU_INFO', BigInt(VCPU_INFO_GPA));
    this.xen.set('UPCALL_VECTOR', EVTCHN_VECTOR);
  }

  /** Runs the guest until it has its handler installed and interrupts enabled. */
  async boot(): Promise<void> {
    const ucall = await this.machine.runUntilUcallAsync();
    if (ucall.cmd !== 'sync' || ucall.args[0] !== SYNC_READY) throw new TestFailure('the guest did not report ready');
  }

  /**
   * Runs the guest until it reports an upcall, or `timeoutMs` passes (undefined then; the vCPU is
   * stopped where it was waiting, ready to run again).
   */
  async waitForUpcall(timeoutMs: number): Promise<Upcall | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      const exit = await this.machine.vcpu.runAsync({ timeoutMs: left });
      if (exit.reason === 'timeout') return undefined;
      const ucall = this.machine.ucallOf(exit);
      if (!ucall) throw new TestFailure(`unexpected exit while waiting for an upcall: ${exit.reason}`);
      if (ucall.cmd === 'sync' && ucall.args[0] === SYNC_SAW_IRQ) {
        return { sel: ucall.args[1]!, port: Number(BigInt.asIntN(64, ucall.args[2]!)) };
      }
    }
  }

  /** No event anywhere: pending and mask words, the selector and the upcall flag all clear. */
  clearEvents(): void {
    for (let word = 0; word < 64; word++) {
      this.shinfo.setPendingWord(word, 0n);
      this.shinfo.setMaskWord(word, 0n);
    }
    this.vinfo.pendingSel = 0n;
    this.vinfo.upcallPending = 0;
  }

  close(): void {
    this.machine.close();
  }
}
