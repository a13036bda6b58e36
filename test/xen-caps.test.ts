// The Xen ioctl paths. Where KVM has Xen support (test/xen-suite.test.ts also runs this file inside
// a QEMU guest with a Xen-capable kernel) they really run; on a host without it (KVM_CAP_XEN_HVM = 0)
// the Xen checks skip with exactly that reason, and what does not need Xen support still runs: the
// cap must be honest, and the shim refuses attributes sent to the wrong fd before the kernel sees them.
import t from 'tap';

import { KvmError, type Kvm, type XenHvmCaps } from '../lib/kvm';
import { native } from '../lib/kvm/native';
import { requestIndex } from '../lib/kvm/requests';
import { encodeHvmAttr, encodeVcpuAttr, XenVm } from '../lib/xen';
import { kvmXenHvmConfig } from '../lib/xen/uapi';
import { kvmOrSkip } from './helpers/kvm';
import { thrownBy } from './helpers/thrown';

const XEN_HYPERCALL_MSR = 0x40000000;
const NO_XEN = 'KVM_CAP_XEN_HVM = 0';

/** KVM_CAP_XEN_HVM, or a skip with the reason when it is 0. */
function xenCapsOrSkip(t: tap.Test, kvm: Kvm): XenHvmCaps | undefined {
  const caps = kvm.xenHvmCaps();
  if (caps.raw === 0) {
    t.plan(0, NO_XEN);
    return undefined;
  }
  t.comment(`KVM_CAP_XEN_HVM = 0x${caps.raw.toString(16)}: ${caps.flags.join(' ')}`);
  return caps;
}

function newXenVm(t: tap.Test, kvm: Kvm): XenVm {
  const vm = kvm.createVm();
  t.teardown(() => vm.close());
  return new XenVm(vm);
}

t.test('KVM_XEN_HVM_CONFIG with INTERCEPT_HCALL and the hypercall MSR', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const caps = xenCapsOrSkip(t, kvm);
  if (!caps) return;
  t.ok(caps.has('INTERCEPT_HCALL'), 'KVM offers INTERCEPT_HCALL');
  const xen = newXenVm(t, kvm);
  xen.configure({ msr: XEN_HYPERCALL_MSR, flags: ['INTERCEPT_HCALL'] });
  t.same(xen.config, { msr: XEN_HYPERCALL_MSR, flags: ['INTERCEPT_HCALL'] });

  // KVM accepts only INTERCEPT_HCALL, EVTCHN_SEND and PVCLOCK_TSC_UNSTABLE as input (permitted_flags in kvm_xen_hvm_config(), arch/x86/kvm/xen.c:1338-1344 in 6.12).
  const sharedInfoFlag = kvmXenHvmConfig.encode({ flags: 1 << 2, msr: XEN_HYPERCALL_MSR });
  t.throws(() => xen.vm.ioctl('KVM_XEN_HVM_CONFIG', sharedInfoFlag), {
    name: 'KvmError', code: 'EINVAL', syscall: 'ioctl', ioctl: 'KVM_XEN_HVM_CONFIG',
  }, 'a capability bit as a config flag');
  const blobWithIntercept = kvmXenHvmConfig.encode({ flags: 1 << 1, msr: XEN_HYPERCALL_MSR, blobSize64: 1 });
  t.throws(() => xen.vm.ioctl('KVM_XEN_HVM_CONFIG', blobWithIntercept), { code: 'EINVAL' }, 'a hypercall blob with INTERCEPT_HCALL');
});

t.test('KVM_XEN_HVM_SET_ATTR LONG_MODE, read back with KVM_XEN_HVM_GET_ATTR', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  if (!xenCapsOrSkip(t, kvm)) return;
  const xen = newXenVm(t, kvm);
  xen.configure({ msr: XEN_HYPERCALL_MSR, flags: ['INTERCEPT_HCALL'] });
  xen.set('LONG_MODE', true);
  t.equal(xen.get('LONG_MODE'), true, 'set to 64-bit');
  xen.set('LONG_MODE', false);
  t.equal(xen.get('LONG_MODE'), false, 'and back to 32-bit');
});

t.test('KVM_CAP_XEN_HVM tells the truth: KVM_XEN_HVM_CONFIG works exactly when it is non-zero', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const caps = kvm.xenHvmCaps();
  const xen = newXenVm(t, kvm);
  const configure = (): void => xen.configure({ msr: XEN_HYPERCALL_MSR, flags: ['INTERCEPT_HCALL'] });
  if (caps.raw !== 0) {
    t.doesNotThrow(configure, `KVM_CAP_XEN_HVM = 0x${caps.raw.toString(16)}: configured`);
    return;
  }
  const error = thrownBy(configure);
  t.type(error, KvmError, `${NO_XEN}: the ioctl fails`);
  t.match(error, { syscall: 'ioctl', ioctl: 'KVM_XEN_HVM_CONFIG', code: /^(ENOTTY|EINVAL)$/ });
  t.equal(xen.config, undefined, 'nothing recorded as configured');
});

t.test('attributes sent to the wrong fd are refused by the shim, before the kernel', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  // No Xen support needed: the request never reaches KVM.
  const xen = newXenVm(t, kvm);
  const vcpu = xen.vm.createVcpu(0);
  const wrongKind = { name: 'TypeError', code: 'ERR_KVM_WRONG_FD_KIND' };
  t.throws(() => native.ioctl(xen.vm.handle, requestIndex('KVM_XEN_VCPU_SET_ATTR'), encodeVcpuAttr('VCPU_ID', 0)),
    { ...wrongKind, message: /than a vm fd$/ }, 'a vCPU attribute on the VM fd (raw addon)');
  t.throws(() => xen.vm.ioctl('KVM_XEN_VCPU_GET_ATTR', encodeVcpuAttr('VCPU_ID', 0)), wrongKind, 'a vCPU attribute on the VM fd (Vm.ioctl)');
  t.throws(() => vcpu.ioctl('KVM_XEN_HVM_SET_ATTR', encodeHvmAttr('LONG_MODE', true)), wrongKind, 'a VM attribute on the vCPU fd');
  t.throws(() => native.ioctl(kvm.handle, requestIndex('KVM_XEN_HVM_CONFIG'), kvmXenHvmConfig.encode({})), wrongKind, 'KVM_XEN_HVM_CONFIG on /dev/kvm');
});
