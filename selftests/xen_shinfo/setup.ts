// The host set-up of xen_shinfo_test before the first KVM_RUN, step by step as upstream's main() does it
// (tools/testing/selftests/kvm/x86_64/xen_shinfo_test.c:446-632 in 6.12).
import { dumpVcpu } from '../../lib/kvm/dump';
import { EventFd } from '../../lib/kvm/eventfd';
import type { MemoryRegion } from '../../lib/kvm/memory';
import { Kvm } from '../../lib/kvm/system';
import type { Vcpu } from '../../lib/kvm/vcpu';
import { type Vm, XEN_EVTCHN_PRIORITY_2LEVEL } from '../../lib/kvm/vm';
import { setForcedEmulation, type ForcedEmulationSetting } from '../../lib/guest/forced-emulation';
import { GuestMachine } from '../../lib/guest/machine';
import type { XenTimer } from '../../lib/xen/attributes';
import { RunstateView, SharedInfoView, VcpuInfoView } from '../../lib/xen/views';
import { XenVcpu } from '../../lib/xen/xen-vcpu';
import { XenVm, type XenConfigFlag } from '../../lib/xen/xen-vm';
import type { IoctlRepeater } from '../../lib/kvm/ioctl-loop';
import { testAssert, testRequire } from '../lib/ksft';
import { Watchdog } from '../lib/watchdog';
import {
  EVTCHN_TEST1, EVTCHN_TEST2, EVTCHN_TIMER, EVTCHN_VECTOR, PAGE_SIZE, PVTIME_ADDR, RUNSTATE_ADDR, SHINFO_ADDR,
  SHINFO_REGION_GPA, SHINFO_REGION_GVA, SHINFO_REGION_SLOT, VCPU_INFO_ADDR, XEN_HYPERCALL_MSR,
} from './constants';

/** Which parts run, from KVM_CAP_XEN_HVM (upstream's do_*_tests flags, xen_shinfo_test.c:448-455 in 6.12). */
export interface Features {
  doRunstateTests: boolean;
  doRunstateFlag: boolean;
  doEventfdTests: boolean;
  doEvtchnTests: boolean;
  hasShinfoHva: boolean;
}

export interface ShinfoTest {
  kvm: Kvm;
  machine: GuestMachine;
  vm: Vm;
  vcpu: Vcpu;
  xen: XenVm;
  xenVcpu: XenVcpu;
  features: Features;
  shinfoRegion: MemoryRegion;
  shinfo: SharedInfoView;
  vinfo: VcpuInfoView;
  /** The runstate area at RUNSTATE_ADDR (64-bit layout), read through the host mapping. */
  rs: RunstateView;
  irqFd: [EventFd, EventFd] | undefined;
  /** The TIMER attribute as the test keeps it between stages. */
  tmr: XenTimer;
  evtchnIrqExpected: boolean;
  watchdog: Watchdog;
  juggler: IoctlRepeater | undefined;
  /** Whether the upcall handler's vcpu_info stores may go through KVM's emulator (upstream's is_forced_emulation_enabled). */
  forcedEmulation: ForcedEmulationSetting;
  verbose: boolean;
  log(message: string): void;
  close(): void;
}

export function setUp(kvm: Kvm, verbose: boolean, log: (message: string) => void): ShinfoTest {
  const caps = kvm.xenHvmCaps();
  testRequire(caps.has('SHARED_INFO'), `Requirement not met: xen_caps & KVM_XEN_HVM_CONFIG_SHARED_INFO (KVM_CAP_XEN_HVM = ${caps.raw})`);
  const features: Features = {
    doRunstateTests: caps.has('RUNSTATE'),
    doRunstateFlag: caps.has('RUNSTATE_UPDATE_FLAG'),
    doEventfdTests: caps.has('EVTCHN_2LEVEL'),
    doEvtchnTests: caps.has('EVTCHN_2LEVEL') && caps.has('EVTCHN_SEND'),
    hasShinfoHva: caps.has('SHARED_INFO_HVA'),
  };

  const machine = GuestMachine.create(kvm, { program: 'xen_shinfo_test' });
  try {
    return configure(kvm, machine, features, verbose, log);
  } catch (error) {
    machine.close();
    throw error;
  }
}

function configure(kvm: Kvm, machine: GuestMachine, features: Features, verbose: boolean, log: (message: string) => void): ShinfoTest {
  const { vm, vcpu } = machine;

  // A 3-page region for shared_info, the secondary pvclock and the page-straddling runstate area.
  const shinfoRegion = vm.addMemory({ slot: SHINFO_REGION_SLOT, guestAddress: SHINFO_REGION_GPA, size: 3 * PAGE_SIZE });
  machine.map(SHINFO_REGION_GVA, SHINFO_REGION_GPA, 3 * PAGE_SIZE);
  const shinfo = new SharedInfoView(vm.memory, SHINFO_ADDR);

  const xen = new XenVm(vm);
  const xenVcpu = new XenVcpu(vcpu);
  // EVTCHN_SEND promises that all events go through KVM, which lets it intercept SCHEDOP_poll.
  const flags: XenConfigFlag[] = ['INTERCEPT_HCALL'];
  if (features.doEvtchnTests) flags.push('EVTCHN_SEND');
  xen.configure({ msr: XEN_HYPERCALL_MSR, flags });

  xen.set('LONG_MODE', true);

  if (features.doRunstateFlag) {
    xen.set('RUNSTATE_UPDATE_FLAG', true);
    testAssert(xen.get('RUNSTATE_UPDATE_FLAG'), 'Failed to read back RUNSTATE_UPDATE_FLAG attr');
  }

  if (features.hasShinfoHva) xen.set('SHARED_INFO_HVA', shinfoRegion.hostAddress);
  else xen.set('SHARED_INFO', BigInt(SHINFO_ADDR / PAGE_SIZE));

  // Replace the page under KVM's reference to it (its MMU notifier must cope), keeping the wall clock
  // KVM wrote at activation, which the final checks read.
  const wallClock = shinfo.wallClockBytes().slice();
  shinfoRegion.remapZero(0, PAGE_SIZE);
  shinfo.wallClockBytes().set(wallClock);

  xenVcpu.set('VCPU_INFO', BigInt(VCPU_INFO_ADDR));
  xenVcpu.set('VCPU_TIME_INFO', BigInt(PVTIME_ADDR));
  xen.set('UPCALL_VECTOR', EVTCHN_VECTOR);
  // (The guest installs its own handler for EVTCHN_VECTOR.)

  if (features.doRunstateTests) xenVcpu.set('RUNSTATE_ADDR', BigInt(RUNSTATE_ADDR));

  let irqFd: [EventFd, EventFd] | undefined;
  if (features.doEventfdTests) {
    irqFd = [EventFd.create(), EventFd.create()];
    vm.setGsiRouting([
      { gsi: 32, type: 'xen-evtchn', port: EVTCHN_TEST1, vcpu: vcpu.id, priority: XEN_EVTCHN_PRIORITY_2LEVEL },
      { gsi: 33, type: 'xen-evtchn', port: EVTCHN_TEST2, vcpu: vcpu.id, priority: XEN_EVTCHN_PRIORITY_2LEVEL },
    ]);
    vm.assignIrqfd(irqFd[0], 32);
    vm.assignIrqfd(irqFd[1], 33);
  }

  const tmr: XenTimer = { port: EVTCHN_TIMER, priority: XEN_EVTCHN_PRIORITY_2LEVEL, expiresNs: 0n };

  if (features.doEvtchnTests) {
    // Port 127 loops back to port 15, first aimed at a vCPU that does not exist...
    xen.assignEvtchn({ sendPort: 127, type: 'interdomain', deliver: { port: EVTCHN_TEST1, vcpu: vcpu.id + 1 } });
    // ...then "migrated" to vCPU 0.
    xen.updateEvtchn({ sendPort: 127, type: 'interdomain', deliver: { port: EVTCHN_TEST1, vcpu: vcpu.id } });
    // Port 197 signals irq_fd[1], the irqfd of port 66.
    xen.assignEvtchn({ sendPort: 197, type: 'interdomain', deliver: { eventfd: irqFd![1] } });
    xenVcpu.set('TIMER', tmr);
  }

  // Upstream syncs is_forced_emulation_enabled and the random state into every guest it creates.
  const forcedEmulation = setForcedEmulation(machine);

  const vinfo = new VcpuInfoView(vm.memory, VCPU_INFO_ADDR);
  vinfo.upcallPending = 0;
  const rs = new RunstateView(vm.memory, RUNSTATE_ADDR);
  rs.state = 0x5a;  // garbage KVM must overwrite

  const watchdog = new Watchdog(() => [
    'IRQ delivery timed out',
    `evtchn_upcall_pending 0x${vinfo.upcallPending.toString(16)}`,
    ...dumpVcpu(vcpu),
  ].join('\n'));

  const test: ShinfoTest = {
    kvm, machine, vm, vcpu, xen, xenVcpu, features, shinfoRegion, shinfo, vinfo, rs, irqFd, tmr,
    evtchnIrqExpected: false, watchdog, juggler: undefined, forcedEmulation, verbose, log,
    close() {
      watchdog.alarm(0);
      test.juggler?.stop();
      irqFd?.forEach((fd) => fd.close());
      machine.close();
    },
  };
  return test;
}
