// The library's public calls with bad input (issue 14, item 7): each one a TypeError or RangeError
// that names the argument, thrown before anything reaches the kernel — never a machine without vCPUs,
// a silently rounded count, or a JavaScript engine message about undefined or a DataView.
import t from 'tap';

import { GuestMachine } from '../lib/guest';
import { KVM_MEM_LOG_DIRTY_PAGES } from '../lib/kvm';
import { migrate } from '../lib/vmm';
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

t.test('KVM_GET_DIRTY_LOG: the bitmap\'s room is checked against the slot\'s size; no pointer comes from JavaScript', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const vm = kvm.createVm();
  t.teardown(() => vm.close());
  vm.addMemory({ slot: 0, guestAddress: 0, size: 1 << 20 });
  t.throws(() => vm.getDirtyLog(0), { code: 'ENOENT' }, 'a slot without KVM_MEM_LOG_DIRTY_PAGES: KVM\'s ENOENT');
  vm.setMemoryFlags(0, KVM_MEM_LOG_DIRTY_PAGES);
  t.equal(vm.getDirtyLog(0).length, 32, '256 pages: a 32-byte bitmap');
  // 256 pages need 16 bytes of struct + 32 of bitmap; anything shorter would let the kernel write past the buffer.
  for (const length of [0, 8, 16, 47]) {
    t.throws(() => vm.ioctl('KVM_GET_DIRTY_LOG', new Uint8Array(length)), { name: 'RangeError', code: 'ERR_BUFFER_TOO_SMALL' }, `${length} bytes`);
  }
  // A pointer smuggled into dirty_bitmap is ignored: the shim points the kernel at its own room.
  const smuggled = new Uint8Array(48);
  new DataView(smuggled.buffer).setBigUint64(8, 0xdeadbeef000n, true);
  t.equal(vm.ioctl('KVM_GET_DIRTY_LOG', smuggled), 0, 'a bogus pointer in the struct does not reach the kernel');
  const other = new Uint8Array(64);
  other[0] = 7;
  t.throws(() => vm.ioctl('KVM_GET_DIRTY_LOG', other), { name: 'RangeError', code: 'ERR_KVM_NO_SLOT', message: /no memory slot 7/ });
  t.throws(() => vm.getDirtyLog(7), { name: 'RangeError', message: /no memory slot 7/ });
  t.throws(() => vm.setMemoryFlags(7, 0), { name: 'RangeError', message: /no memory slot 7/ });
  vm.removeMemory(0);
  t.throws(() => vm.ioctl('KVM_GET_DIRTY_LOG', new Uint8Array(48)), { code: 'ERR_KVM_NO_SLOT' }, 'a deleted slot is forgotten');
});

t.test('MSR index list and debug registers: the vCPU state migration saves', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const msrs = kvm.msrIndexList();
  t.ok(msrs.includes(0x10), `the MSR list (${msrs.length} MSRs) has IA32_TSC`);
  const vm = kvm.createVm();
  t.teardown(() => vm.close());
  const vcpu = vm.createVcpu(0);
  const debugregs = vcpu.getDebugregs();
  t.equal(debugregs.length, 128, 'kvm_debugregs is 128 bytes');
  vcpu.setDebugregs(debugregs);
  t.throws(() => vcpu.setDebugregs(new Uint8Array(64)), { name: 'RangeError', code: 'ERR_BUFFER_TOO_SMALL' });
});

t.test('migrate refuses what is not a LinuxMachine', async (t) => {
  await t.rejects(migrate({} as never), { name: 'TypeError', message: /source must be a LinuxMachine/ });
  await t.rejects(migrate(undefined as never), { name: 'TypeError', message: /source must be a LinuxMachine/ });
});
