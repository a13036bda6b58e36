// A vCPU's whole architectural state as a VMM carries it to another VM: what lib/kvm's snapshot holds
// (CPUID, registers, LAPIC, pending events, run state) plus the FPU/XSAVE area, XCR0, the debug
// registers and every MSR KVM lists for saving (the TSC, kvmclock's, the syscall MSRs, the TSC deadline
// and the rest). Restored in the order QEMU uses (target/i386/kvm/kvm.c, kvm_arch_put_registers): the
// LAPIC resets its timer, so the TSC deadline goes in after it.
import { snapshotVcpu, type Vcpu, type VcpuSnapshot } from '../../kvm';
import { viewOf } from '../../kvm/layout';
import { flexHeader, kvmMsrEntry } from '../../kvm/structs';

export const MSR_IA32_TSC_DEADLINE = 0x6e0;

export interface VcpuState extends VcpuSnapshot {
  xsave: Uint8Array;
  xcrs: Uint8Array;
  debugregs: Uint8Array;
  /** The MSRs KVM read, by index, in the list's order. */
  msrs: Array<[index: number, value: bigint]>;
}

/** What did not carry over: MSRs in KVM's list that it would not read, or would not take back. */
export interface MsrGaps {
  unreadable: number[];
  refused: number[];
}

/**
 * Performs KVM_GET_MSRS or KVM_SET_MSRS over `entries`, skipping each one KVM stops at (both requests
 * return how many entries they processed, stopping at the first they cannot): one ioctl, plus one more
 * for each skipped MSR. Returns the entries done (with the values read) and the skipped indices.
 */
function msrsInBatches(vcpu: Vcpu, request: 'KVM_GET_MSRS' | 'KVM_SET_MSRS', entries: ReadonlyArray<readonly [number, bigint]>) {
  const done: Array<[number, bigint]> = [];
  const skipped: number[] = [];
  let rest = entries;
  while (rest.length > 0) {
    const bytes = new Uint8Array(flexHeader.size + rest.length * kvmMsrEntry.size);
    const view = viewOf(bytes);
    flexHeader.set(view, 0, 'count', rest.length);
    rest.forEach(([index, data], i) => kvmMsrEntry.write(view, flexHeader.size + i * kvmMsrEntry.size, { index, data }));
    const count = vcpu.ioctl(request, bytes);
    for (let i = 0; i < count; i++) done.push([rest[i]![0], kvmMsrEntry.get(view, flexHeader.size + i * kvmMsrEntry.size, 'data')]);
    if (count < rest.length) skipped.push(rest[count]![0]);
    rest = rest.slice(count + 1);
  }
  return { done, skipped };
}

/** Saves a stopped vCPU's state; `msrIndices` is KVM_GET_MSR_INDEX_LIST's answer. */
export async function saveVcpuState(vcpu: Vcpu, msrIndices: readonly number[], gaps: MsrGaps): Promise<VcpuState> {
  const snapshot = await snapshotVcpu(vcpu);
  const { done, skipped } = msrsInBatches(vcpu, 'KVM_GET_MSRS', msrIndices.map((index) => [index, 0n] as const));
  gaps.unreadable.push(...skipped.filter((index) => !gaps.unreadable.includes(index)));
  return { ...snapshot, xsave: vcpu.getXsave(), xcrs: vcpu.getXcrs(), debugregs: vcpu.getDebugregs(), msrs: done };
}

/** Restores a saved state into a vCPU that has not run (its CPUID set already, as createLike does). */
export function restoreVcpuState(vcpu: Vcpu, state: VcpuState, gaps: MsrGaps): void {
  vcpu.setRegs(state.regs);
  vcpu.setXsave(state.xsave);
  vcpu.setXcrs(state.xcrs);
  vcpu.setSregs(state.sregs);
  const deadline = state.msrs.filter(([index]) => index === MSR_IA32_TSC_DEADLINE);
  const refused = msrsInBatches(vcpu, 'KVM_SET_MSRS', state.msrs.filter(([index]) => index !== MSR_IA32_TSC_DEADLINE)).skipped;
  vcpu.setMpState(state.mpState);
  if (state.lapic) vcpu.setLapic(state.lapic);
  refused.push(...msrsInBatches(vcpu, 'KVM_SET_MSRS', deadline).skipped);
  vcpu.setEvents(state.events);
  vcpu.setDebugregs(state.debugregs);
  gaps.refused.push(...refused.filter((index) => !gaps.refused.includes(index)));
}
