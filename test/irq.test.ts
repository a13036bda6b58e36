// Interrupts into a guest through the in-kernel irqchip: a GSI routed to an MSI, an eventfd bound to
// the GSI (irqfd), and the guest's own IDT handler counting what arrives through its xAPIC.
import t from 'tap';

import { EventFd, type Vm } from '../lib/kvm';
import { basicsMachine, kvmOrSkip } from './helpers/kvm';

const IRQ_VECTOR = 0x40;
const GSI = 5;
// An MSI to APIC id 0 (address bits 19:12), fixed delivery, edge, with the vector in the data.
const MSI_ADDRESS = 0xfee00000n;
const QUIET_MS = 100;

function routeGsiToVector(vm: Vm): void {
  vm.setGsiRouting([{ gsi: GSI, type: 'msi', address: MSI_ADDRESS, data: IRQ_VECTOR }]);
}

t.test('an MSI route plus irqfd delivers an interrupt to the guest\'s IDT handler', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  t.ok(kvm.checkExtension('KVM_CAP_IRQFD') > 0, 'KVM_CAP_IRQFD');
  t.ok(kvm.checkExtension('KVM_CAP_IRQ_ROUTING') > 0, 'KVM_CAP_IRQ_ROUTING');
  const machine = basicsMachine(t, kvm, 'irq', { xapic: true });
  t.ok(machine.vm.hasIrqchip, 'KVM_CREATE_IRQCHIP done');
  t.same(machine.runUntilUcall({ timeoutMs: 5000 }), { cmd: 'sync', args: [BigInt(IRQ_VECTOR)] }, 'handler installed, LAPIC enabled, interrupts on');

  routeGsiToVector(machine.vm);
  const eventFd = EventFd.create();
  t.teardown(() => eventFd.close());
  machine.vm.assignIrqfd(eventFd, GSI);
  t.same(machine.vm.assignedIrqfds.map(({ gsi }) => gsi), [GSI]);

  // Control: without a write to the eventfd the guest keeps waiting.
  t.same(machine.vcpu.runSync({ timeoutMs: QUIET_MS }), { reason: 'timeout' }, 'no interrupt before the eventfd is written');
  const irqsSeen = machine.symbol('irqs_seen');
  t.equal(machine.memory.read32(irqsSeen), 0);

  eventFd.write(1n);
  t.same(machine.runUntilUcall({ timeoutMs: 5000 }), { cmd: 'sync', args: [1n] }, 'the handler ran once');
  t.same(machine.runUntilUcall({ timeoutMs: 5000 }), { cmd: 'done' });
  t.equal(eventFd.read(), undefined, 'KVM consumed the eventfd count');
});

t.test('a deassigned irqfd delivers nothing; KVM_SIGNAL_MSI reaches the same handler', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'irq', { xapic: true });
  machine.runUntilUcall({ timeoutMs: 5000 });
  routeGsiToVector(machine.vm);
  const eventFd = EventFd.create();
  t.teardown(() => eventFd.close());
  machine.vm.assignIrqfd(eventFd, GSI);
  machine.vm.deassignIrqfd(eventFd, GSI);
  t.same(machine.vm.assignedIrqfds, []);

  eventFd.write(1n);
  t.same(machine.vcpu.runSync({ timeoutMs: QUIET_MS }), { reason: 'timeout' }, 'nothing arrives');
  t.equal(eventFd.read(), 1n, 'the count stayed in the eventfd');

  t.ok(machine.vm.signalMsi(MSI_ADDRESS, IRQ_VECTOR) > 0, 'KVM_SIGNAL_MSI delivered');
  t.same(machine.runUntilUcall({ timeoutMs: 5000 }), { cmd: 'sync', args: [1n] });
});

t.test('closing an EventFd assigned as an irqfd ends it: the VM forgets it, and deassigning it is no error', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'irq', { xapic: true });
  routeGsiToVector(machine.vm);
  const closed = EventFd.create();
  const open = EventFd.create();
  t.teardown(() => open.close());
  machine.vm.assignIrqfd(closed, GSI);
  machine.vm.assignIrqfd(open, GSI);
  closed.close();
  t.same(machine.vm.assignedIrqfds.map((entry) => entry.eventFd), [open], 'only the open one is listed');
  t.doesNotThrow(() => machine.vm.deassignIrqfd(closed, GSI), 'the kernel dropped it on close: nothing to deassign');
  machine.vm.deassignIrqfd(open, GSI);
  t.same(machine.vm.assignedIrqfds, []);
});

t.test('irqfd arguments are checked before the ioctl', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const vm = kvm.createVm();
  t.teardown(() => vm.close());
  const eventFd = EventFd.create();
  t.teardown(() => eventFd.close());
  t.throws(() => vm.assignIrqfd(5 as never, GSI), { name: 'TypeError', message: /eventFd must be an EventFd/ });
  t.throws(() => vm.assignIrqfd(eventFd, undefined as never), { name: 'TypeError', message: /gsi must be a number/ });
  t.throws(() => vm.assignIrqfd(eventFd, -1), { name: 'RangeError', message: /gsi must be an integer/ });
  t.same(vm.assignedIrqfds, [], 'nothing recorded');
});
