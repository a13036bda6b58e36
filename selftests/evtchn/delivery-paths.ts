// The three ways a VMM (re)creates the delivery path of an event-channel port (the three David Woodhouse named on kvm@vger, 22 Nov 2023, in the thread of Paul Durrant's v8
// "KVM: xen: update shared_info and vcpu_info handling"; in 6.12 they are KVM_XEN_VCPU_ATTR_TYPE_TIMER,
// arch/x86/kvm/xen.c:1202, kvm_xen_setup_evtchn(), :1930, and kvm_xen_eventfd_assign(), :2074): the Xen
// timer's VIRQ port, an incoming eventfd routed to the port, and an IPI port the guest sends on. Each
// with its undo, so checks can run one after another in one VM.
import { EventFd, XEN_EVTCHN_PRIORITY_2LEVEL } from '../../lib/kvm';
import type { XenGuest } from './guest-vm';

export interface DeliveryPath {
  /** Short name for KTAP lines. */
  readonly name: string;
  /** The uAPI it exercises. */
  readonly uapi: string;
  setUp(guest: XenGuest, port: number): void;
  tearDown(guest: XenGuest, port: number): void;
}

const ROUTE_GSI = 40;
const NS_PER_S = 1000000000n;

/** A Xen timer restored as after migration: port set, expiry well ahead (it must not fire meanwhile). */
export const timerPath: DeliveryPath = {
  name: 'timer set-up',
  uapi: 'KVM_XEN_VCPU_SET_ATTR TIMER',
  setUp(guest, port) {
    const expiresNs = guest.machine.vm.getClock().clock + 10n * NS_PER_S;
    guest.xenVcpu.set('TIMER', { port, priority: XEN_EVTCHN_PRIORITY_2LEVEL, expiresNs });
  },
  tearDown(guest) {
    guest.xenVcpu.set('TIMER', { port: 0, priority: XEN_EVTCHN_PRIORITY_2LEVEL, expiresNs: 0n });
  },
};

/** An eventfd that signals the port: a Xen event-channel GSI route plus its irqfd. */
export function eventfdPath(): DeliveryPath {
  let eventFd: EventFd | undefined;
  return {
    name: 'eventfd route set-up',
    uapi: 'KVM_SET_GSI_ROUTING (KVM_IRQ_ROUTING_XEN_EVTCHN) + KVM_IRQFD',
    setUp(guest, port) {
      const vm = guest.machine.vm;
      eventFd = EventFd.create();
      vm.setGsiRouting([{ gsi: ROUTE_GSI, type: 'xen-evtchn', port, vcpu: guest.machine.vcpu.id, priority: XEN_EVTCHN_PRIORITY_2LEVEL }]);
      vm.assignIrqfd(eventFd, ROUTE_GSI);
    },
    tearDown(guest) {
      const vm = guest.machine.vm;
      if (eventFd) {
        vm.deassignIrqfd(eventFd, ROUTE_GSI);
        eventFd.close();
        eventFd = undefined;
      }
      vm.setGsiRouting([]);
    },
  };
}

/** An IPI port: the guest may send on it and KVM delivers it back to the vCPU. */
export const ipiPath: DeliveryPath = {
  name: 'IPI port set-up',
  uapi: 'KVM_XEN_HVM_SET_ATTR EVTCHN (EVTCHNSTAT_ipi)',
  setUp(guest, port) {
    guest.xen.assignEvtchn({ sendPort: port, type: 'ipi', deliver: { port, vcpu: guest.machine.vcpu.id } });
  },
  tearDown(guest, port) {
    guest.xen.deassignEvtchn(port);
  },
};
