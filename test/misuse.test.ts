// The library's public calls with bad input (issue 14, item 7): each one a TypeError or RangeError
// that names the argument, thrown before anything reaches the kernel — never a machine without vCPUs,
// a silently rounded count, or a JavaScript engine message about undefined or a DataView.
import t from 'tap';

import { GuestMachine } from '../lib/guest';
import { XenVcpu, XenVm } from '../lib/xen';
import { kvmOrSkip } from './helpers/kvm';

t.test('GuestMachine.create refuses a vCPU count or memory size that is not a whole number in range', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  for (const vcpus of [0, -1, NaN, 1.5, Infinity]) {
    t.throws(() => GuestMachine.create(kvm, { program: 'basics', vcpus }), { name: 'RangeError', message: /options\.vcpus must be an integer >= 1/ }, `vcpus ${vcpus}`);
  }
  t.throws(() => GuestMachine.create(kvm, { program: 'basics', vcpus: '2' as never }), { name: 'TypeError', message: /options\.vcpus must be a number/ });
  for (const memorySize of [0, -4096, 4097, 1.5 * 4096]) {
    t.throws(() => GuestMachine.create(kvm, { program: 'basics', memorySize }), { name: 'RangeError', message: /options\.memorySize/ }, `memorySize ${memorySize}`);
  }
  t.throws(() => GuestMachine.create(kvm, { program: 5 as never }), { name: 'TypeError', message: /options\.program/ });
  t.throws(() => GuestMachine.create(kvm, undefined as never), { name: 'TypeError', message: /options must be an object/ });
  const machine = GuestMachine.create(kvm, { program: 'basics', vcpus: 2 });
  t.teardown(() => machine.close());
  t.equal(machine.vcpus.length, 2, 'a good count still makes its vCPUs');
});

t.test('Xen attributes: an unknown name or a value of the wrong type is a TypeError naming the attribute', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const vm = kvm.createVm();
  t.teardown(() => vm.close());
  const xen = new XenVm(vm);
  const xenVcpu = new XenVcpu(vm.createVcpu(0));
  t.throws(() => xen.set('NOPE' as never, 1 as never), { name: 'TypeError', message: /^NOPE is not a Xen VM attribute \(one of LONG_MODE, / });
  t.throws(() => xen.get('NOPE' as never), { name: 'TypeError', message: /NOPE is not a Xen VM attribute/ });
  t.throws(() => xen.set('toString' as never, 1 as never), { name: 'TypeError', message: /toString is not a Xen VM attribute/ }, 'not an inherited property either');
  t.throws(() => xenVcpu.set('NOPE' as never, 1 as never), { name: 'TypeError', message: /NOPE is not a Xen vCPU attribute/ });
  t.throws(() => xenVcpu.get('NOPE' as never), { name: 'TypeError', message: /NOPE is not a Xen vCPU attribute/ });
  t.throws(() => xen.set('LONG_MODE', 1 as never), { name: 'TypeError', message: /Xen VM attribute LONG_MODE: the value must be a boolean/ });
  t.throws(() => xen.set('UPCALL_VECTOR', 256), { name: 'RangeError', message: /Xen VM attribute UPCALL_VECTOR: .*does not fit u8/ });
  t.throws(() => xenVcpu.set('TIMER', undefined as never), { name: 'TypeError', message: /Xen vCPU attribute TIMER: / });
  t.throws(() => xenVcpu.set('VCPU_INFO', 5 as never), { name: 'TypeError', message: /Xen vCPU attribute VCPU_INFO: .*must be a bigint/ });
});

t.test('XenVm.configure and outbound ports refuse names they do not know', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const vm = kvm.createVm();
  t.teardown(() => vm.close());
  const xen = new XenVm(vm);
  t.throws(() => xen.configure({ msr: 0x40000000, flags: ['bogus' as never] }), { name: 'TypeError', message: /bogus is not a KVM_XEN_HVM_CONFIG flag/ });
  t.throws(() => xen.configure({ msr: '1' as never }), { name: 'TypeError', message: /config\.msr must be a number/ });
  t.equal(xen.config, undefined, 'nothing configured');
  t.throws(() => xen.assignEvtchn({ sendPort: 1, type: 'virq' as never, deliver: { port: 1, vcpu: 0 } }), { name: 'TypeError', message: /port\.type must be 'interdomain' or 'ipi'/ });
  t.throws(() => xen.assignEvtchn({ sendPort: 1, type: 'ipi' } as never), { name: 'TypeError', message: /port\.deliver must be/ });
  t.same(xen.outboundPorts, [], 'no port recorded');
});

t.test('setGsiRouting refuses what is not a list of routes, naming the route', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const vm = kvm.createVm();
  t.teardown(() => vm.close());
  vm.createIrqchip();
  t.throws(() => vm.setGsiRouting(5 as never), { name: 'TypeError', message: /routes must be an array of GSI routes/ });
  t.throws(() => vm.setGsiRouting(null as never), { name: 'TypeError', message: /routes must be an array/ });
  t.throws(() => vm.setGsiRouting([null as never]), { name: 'TypeError', message: /routes\[0\]: a route must be an object/ });
  t.throws(() => vm.setGsiRouting([{ gsi: 1, type: 'nope' } as never]), { name: 'TypeError', message: /routes\[0\]: unknown route type nope/ });
  t.throws(() => vm.setGsiRouting([{ gsi: 1, type: 'msi', address: 0xfee00000, data: 0 } as never]), { name: 'TypeError', message: /routes\[0\]: an MSI route's address must be a bigint/ });
  t.throws(() => vm.setGsiRouting([{ type: 'irqchip', irqchip: 0, pin: 1 } as never]), { name: 'TypeError', message: /routes\[0\]: the irqchip route needs gsi/ });
  t.throws(() => vm.setGsiRouting([{ gsi: 1, type: 'irqchip', irqchip: 0, pin: 1 }, { gsi: -1, type: 'irqchip', irqchip: 0, pin: 1 }]),
    { name: 'RangeError', message: /routes\[1\]: .*gsi = -1 does not fit u32/ });
  t.same(vm.gsiRoutes, [], 'the table is unchanged');
  vm.setGsiRouting([{ gsi: 1, type: 'irqchip', irqchip: 0, pin: 1 }]);
  t.equal(vm.gsiRoutes.length, 1, 'a good table still goes through');
});
