// kvm-xen info: the device's API version, each capability by name with KVM's value, KVM_CAP_XEN_HVM by
// flag; --json with the same numbers; a device that is not KVM, or a bad option, fail with the reason.
import t from 'tap';

import { formatKvmInfo, type KvmInfo } from '../bin/commands/info';
import { capabilities, type CapabilityName } from '../lib/kvm';
import { kvmOrSkip } from './helpers/kvm';
import { runCli } from './helpers/vm';

t.test('info prints what /dev/kvm says, by name', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const run = await runCli(['info']);
  t.equal(run.status, 0, run.stderr);
  const lines = run.stdout.split('\n');
  t.equal(lines[0], `/dev/kvm: KVM API version ${kvm.apiVersion()}`);
  for (const name of Object.keys(capabilities) as CapabilityName[]) {
    const value = kvm.checkExtension(name);
    t.ok(lines.some((line) => new RegExp(`^  ${name} +${capabilities[name]} +${value}$`).test(line)), `${name} = ${value}`);
  }
  const xen = kvm.xenHvmCaps();
  t.ok(lines.includes(`KVM_CAP_XEN_HVM = 0x${xen.raw.toString(16)}${xen.raw === 0 ? ': no Xen support' : ''}`), 'the Xen line');
  for (const flag of xen.flags) t.match(run.stdout, new RegExp(`\\n  ${flag} +0x`), `flag ${flag}`);
});

t.test('info --json carries the same numbers', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const run = await runCli(['info', '--json', '--device', '/dev/kvm']);
  t.equal(run.status, 0, run.stderr);
  const info = JSON.parse(run.stdout) as KvmInfo;
  t.equal(info.device, '/dev/kvm');
  t.equal(info.apiVersion, kvm.apiVersion());
  t.same(Object.keys(info.capabilities).sort(), Object.keys(capabilities).sort(), 'every capability known by name');
  t.equal(info.capabilities['KVM_CAP_IRQFD'], kvm.checkExtension('KVM_CAP_IRQFD'));
  t.equal(info.capabilities['KVM_CAP_NR_MEMSLOTS'], kvm.checkExtension('KVM_CAP_NR_MEMSLOTS'));
  t.same(info.xenHvm, { raw: kvm.xenHvmCaps().raw, flags: kvm.xenHvmCaps().flags, unknownBits: 0 });
});

t.test('a device that is missing or not KVM fails with the reason; a bad option is a usage error', async (t) => {
  const missing = await runCli(['info', '--device', '/dev/no-such-kvm']);
  t.equal(missing.status, 1);
  t.match(missing.stderr, /^kvm-xen info: open failed: ENOENT .*: \/dev\/no-such-kvm\n$/);
  const notKvm = await runCli(['info', '--device', '/dev/null']);
  t.equal(notKvm.status, 1);
  t.match(notKvm.stderr, /KVM_GET_API_VERSION failed: ENOTTY/);
  const bad = await runCli(['info', '--bogus']);
  t.equal(bad.status, 64);
  t.match(bad.stderr, /Unknown option '--bogus'[\s\S]*usage: kvm-xen info/);
});

t.test('Xen flags are listed by name, with bits the library does not know shown as such', async (t) => {
  const text = formatKvmInfo({
    device: '/dev/kvm', apiVersion: 12, capabilities: { KVM_CAP_XEN_HVM: 0x205 },
    xenHvm: { raw: 0x205, flags: ['HYPERCALL_MSR', 'SHARED_INFO'], unknownBits: 0x200 },
  });
  t.match(text, /\nKVM_CAP_XEN_HVM = 0x205\n  HYPERCALL_MSR +0x1\n  SHARED_INFO +0x4\n  \(bits without a name here\) +0x200$/);
});
