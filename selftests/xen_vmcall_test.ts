#!/usr/bin/env node
// xen_vmcall_test: the TypeScript port of the kernel's tools/testing/selftests/kvm/x86/xen_vmcall_test.c.
// Hypercalls KVM leaves to userspace arrive as KVM_EXIT_XEN; the host checks their registers and
// answers. KTAP v1 on stdout, exit 0 pass / 1 fail / 4 skip.
import { exitReasons, describeExit, type CpuidEntry, type Kvm, type Vcpu, type VcpuExit, type XenHypercallExit } from '../lib/kvm';
import { viewOf } from '../lib/kvm/layout';
import { kvmRun, kvmRunXen } from '../lib/kvm/structs';
import { GuestMachine, PAGE_SIZE } from '../lib/guest';
import { XenVm } from '../lib/xen';
import { openKvmOrSkip } from './lib/kvm-device';
import { selftestMain, type Tap, testAssert, testRequire, TestFailure } from './lib/ksft';

const HCALL_REGION_GPA = 0xc0000000;
const HCALL_REGION_SLOT = 10;
const INPUTVALUE = 17n;
const ARGVALUE = (x: number): bigint => 0xdeadbeef5a5a0000n + BigInt(x);
const RETVALUE = 0xcafef00dfbfbffffn;
const XEN_HYPERCALL_MSR = 0x40000200;

const steps = [
  'VMCALL exits to userspace as KVM_EXIT_XEN and returns the host\'s result',
  'a call through the Xen hypercall page does the same',
  'a Hyper-V hypercall is answered by KVM (HV_STATUS_INVALID_ALIGNMENT)',
] as const;

/** vcpu_set_hv_cpuid(): the vCPU's CPUID with KVM's Hyper-V leaves in place of any hypervisor leaves. */
function withHypervCpuid(kvm: Kvm): CpuidEntry[] {
  const hyperv = kvm.supportedHvCpuid();
  const isHypervisorLeaf = (entry: CpuidEntry): boolean => entry.function >= 0x40000000 && entry.function < 0x40000100;
  return [...kvm.supportedCpuid().filter((entry) => !isHypervisorLeaf(entry)), ...hyperv.filter(isHypervisorLeaf)];
}

/** KVM_EXIT_XEN_HCALL, the only run->xen.type the test expects (include/uapi/linux/kvm.h). */
const KVM_EXIT_XEN_HCALL = 1;

/**
 * run->xen as upstream reads it: the decoded exit turns longmode into a boolean and hands a KVM_EXIT_XEN
 * of another type back raw, but upstream asserts longmode == 1 and type == KVM_EXIT_XEN_HCALL exactly.
 */
function rawXenExit(vcpu: Vcpu): { type: number; longMode: number } {
  const view = viewOf(vcpu.run);
  return { type: kvmRunXen.get(view, kvmRun.exit, 'type'), longMode: kvmRunXen.get(view, kvmRun.exit, 'longMode') };
}

/** The TEST_ASSERT_EQs of upstream's KVM_EXIT_XEN branch (xen_vmcall_test.c:111-124 in 6.12), in its order. */
function checkHypercall(vcpu: Vcpu, exit: VcpuExit): void {
  const raw = rawXenExit(vcpu);
  testAssert(raw.type === KVM_EXIT_XEN_HCALL, `run->xen.type == KVM_EXIT_XEN_HCALL failed: type ${raw.type}, expected ${KVM_EXIT_XEN_HCALL}`);
  const hcall = exit as XenHypercallExit;
  testAssert(hcall.cpl === 0, `run->xen.u.hcall.cpl == 0 failed: ${hcall.cpl}`);
  testAssert(raw.longMode === 1, `run->xen.u.hcall.longmode == 1 failed: ${raw.longMode}`);
  testAssert(hcall.input === INPUTVALUE, `run->xen.u.hcall.input == ${INPUTVALUE} failed: ${hcall.input}`);
  hcall.params.forEach((value, i) => {
    testAssert(value === ARGVALUE(i + 1), `run->xen.u.hcall.params[${i}] == 0x${ARGVALUE(i + 1).toString(16)} failed: 0x${value.toString(16)}`);
  });
  hcall.setResult(RETVALUE);
}

/** A KVM_EXIT_XEN, decoded (type hcall) or not (another type, which checkHypercall then reports). */
function isXenExit(exit: VcpuExit): boolean {
  return exit.reason === 'xen' || (exit.reason === 'raw' && exit.code === exitReasons.XEN);
}

export async function xenVmcallTest(tap: Tap): Promise<void> {
  const kvm = openKvmOrSkip();
  try {
    const caps = kvm.xenHvmCaps();
    testRequire(caps.has('INTERCEPT_HCALL'), `Requirement not met: xen_caps & KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL (KVM_CAP_XEN_HVM = ${caps.raw})`);
    const machine = GuestMachine.create(kvm, { program: 'xen_vmcall_test' });
    try {
      machine.vcpu.setCpuid(withHypervCpuid(kvm));
      new XenVm(machine.vm).configure({ msr: XEN_HYPERCALL_MSR, flags: ['INTERCEPT_HCALL'] });
      machine.vm.addMemory({ slot: HCALL_REGION_SLOT, guestAddress: HCALL_REGION_GPA, size: 2 * PAGE_SIZE });
      machine.map(HCALL_REGION_GPA, HCALL_REGION_GPA, 2 * PAGE_SIZE);
      tap.plan([...steps, 'guest done']);

      let step = 0;
      for (;;) {
        const exit = await machine.vcpu.runAsync();
        try {
          if (isXenExit(exit)) {
            checkHypercall(machine.vcpu, exit);
            continue;
          }
          const ucall = machine.ucallOf(exit);
          if (!ucall) throw new TestFailure(`Wanted KVM exit reason: ${exitReasons.IO} (KVM_EXIT_IO), got: ${describeExit(exit)}`);
          if (ucall.cmd === 'print') continue;
          if (ucall.cmd === 'done') break;
          if (ucall.cmd !== 'sync') throw new TestFailure(`Unknown ucall ${ucall.cmd}`);
          // Each step's line only when the guest reports that very step: no line for a step it skipped.
          const synced = Number(ucall.args[0]);
          testAssert(synced === step + 1, `the guest synced step ${synced} where step ${step + 1} was due`);
          tap.pass(steps[step++]!);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          tap.fail(steps[step] ?? 'guest done', [message]);
          throw new TestFailure(message);
        }
      }
      testAssert(step === steps.length, `the guest finished after ${step} of ${steps.length} steps`);
      tap.pass('guest done');
    } finally {
      machine.close();
    }
  } finally {
    kvm.close();
  }
}

if (require.main === module) selftestMain((tap) => xenVmcallTest(tap));
