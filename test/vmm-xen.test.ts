// lib/vmm/xen's pure parts, without /dev/kvm: the Xen CPUID leaves that replace KVM's. The boot of a
// real Xen HVM guest (`kvm-xen boot --xen` in the runner's VM) is not in the suite yet: see the README.
import t from 'tap';

import type { CpuidEntry } from '../lib/kvm';
import { withXenLeaves, XEN_CPUID_BASE } from '../lib/vmm/xen/cpuid';

const entry = (fn: number, values: Partial<CpuidEntry> = {}): CpuidEntry => ({ function: fn, index: 0, flags: 0, eax: 0, ebx: 0, ecx: 0, edx: 0, ...values });
const text = (...words: number[]): string => Buffer.concat(words.map((word) => { const b = Buffer.alloc(4); b.writeUInt32LE(word); return b; })).toString('latin1');

t.test('Xen CPUID leaves: KVM\'s hypervisor leaves go, Xen\'s signature, version, MSR and vCPU id come', async (t) => {
  const kvm = [entry(1, { ecx: 1 << 31 }), entry(0x40000000, { eax: 0x40000001, ebx: 0x4b4d564b }), entry(0x40000001, { eax: 0xffff }), entry(0x80000000)];
  const leaves = withXenLeaves(kvm, 3, { version: (4 << 16) | 17, hypercallMsr: 0x40000000 });
  const leaf = (fn: number, index = 0): CpuidEntry | undefined => leaves.find((e) => e.function === fn && e.index === index);
  t.equal(leaves.filter((e) => e.function === 0x40000001).length, 1, 'one leaf 0x40000001 (Xen\'s, not KVM\'s features)');
  t.ok(leaf(1) && leaf(0x80000000), 'the other leaves stay');
  const base = leaf(XEN_CPUID_BASE)!;
  t.equal(text(base.ebx, base.ecx, base.edx), 'XenVMMXenVMM', 'the signature Linux\'s xen_cpuid_base() looks for');
  t.equal(base.eax, XEN_CPUID_BASE + 4, 'leaves up to base + 4 (the HVM leaf)');
  t.equal(leaf(XEN_CPUID_BASE + 1)!.eax, 0x40011, 'version 4.17');
  t.same([leaf(XEN_CPUID_BASE + 2)!.eax, leaf(XEN_CPUID_BASE + 2)!.ebx], [1, 0x40000000], 'one hypercall page, through MSR 0x40000000');
  t.same([0, 1, 2].map((i) => leaf(XEN_CPUID_BASE + 3, i)?.flags), [1, 1, 1], 'the time leaf\'s subleaves, for KVM to fill');
  t.same([leaf(XEN_CPUID_BASE + 4)!.eax, leaf(XEN_CPUID_BASE + 4)!.ebx], [(1 << 3) | (1 << 6), 3], 'HVM leaf: the vCPU id is present (3), per-vCPU upcall vectors are offered');
});
