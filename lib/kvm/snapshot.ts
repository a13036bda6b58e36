// A VM's state as a VMM migrates it: guest memory by slot, the kvmclock, and each vCPU's registers,
// LAPIC, pending events and run state — enough for the guests this library runs to continue on another
// VM (in this process or elsewhere). Devices beyond the in-kernel irqchip are not covered.
import type { ClockData, Vm } from './vm';
import type { CpuidEntry, Regs, Sregs, Vcpu, VcpuEvents } from './vcpu';
import { clockFlags } from './vm';

export interface MemorySnapshot {
  slot: number;
  guestAddress: number;
  bytes: Uint8Array;
}

export interface VcpuSnapshot {
  id: number;
  cpuid: readonly CpuidEntry[];
  regs: Regs;
  sregs: Sregs;
  lapic: Uint8Array | undefined;
  events: VcpuEvents;
  mpState: number;
}

export interface VmSnapshot {
  memory: MemorySnapshot[];
  clock: ClockData;
  vcpus: VcpuSnapshot[];
}

/** A vCPU's state; its pending I/O is completed first, so the registers are the ones to resume from. */
export async function snapshotVcpu(vcpu: Vcpu): Promise<VcpuSnapshot> {
  await vcpu.completePendingIo();
  return {
    id: vcpu.id,
    cpuid: vcpu.cpuid,
    regs: vcpu.getRegs(),
    sregs: vcpu.getSregs(),
    lapic: vcpu.inKernelLapic ? vcpu.getLapic() : undefined,
    events: vcpu.getEvents(),
    mpState: vcpu.getMpState(),
  };
}

/** Copies vCPU state, guest memory and the kvmclock; the vCPUs must not be running. */
export async function snapshotVm(vm: Vm, vcpus: readonly Vcpu[]): Promise<VmSnapshot> {
  const saved: VcpuSnapshot[] = [];
  for (const vcpu of vcpus) saved.push(await snapshotVcpu(vcpu));
  return {
    memory: vm.memory.all().map((region) => ({ slot: region.slot, guestAddress: region.guestAddress, bytes: region.bytes.slice() })),
    clock: vm.getClock(),
    vcpus: saved,
  };
}

/**
 * Restores a snapshot into a VM with the same vCPU ids (and the in-kernel irqchip if the source had
 * one): memory slots are created where missing and overwritten, the kvmclock continues from the
 * source's value, each vCPU gets its CPUID, registers, LAPIC, events and run state back.
 */
export function restoreVm(vm: Vm, vcpus: readonly Vcpu[], snapshot: VmSnapshot): void {
  for (const saved of snapshot.memory) {
    const region = vm.memory.slot(saved.slot) ?? vm.addMemory({ slot: saved.slot, guestAddress: saved.guestAddress, size: saved.bytes.length });
    if (region.guestAddress !== saved.guestAddress || region.size !== saved.bytes.length) {
      throw new RangeError(`slot ${saved.slot} differs between source and destination`);
    }
    region.bytes.set(saved.bytes);
  }
  vm.setClock(snapshot.clock.clock, { flags: snapshot.clock.flags & clockFlags.REALTIME, realtime: snapshot.clock.realtime });
  for (const saved of snapshot.vcpus) {
    const vcpu = vcpus.find((candidate) => candidate.id === saved.id);
    if (!vcpu) throw new Error(`the destination has no vCPU ${saved.id}`);
    if (saved.cpuid.length > 0) vcpu.setCpuid(saved.cpuid);
    vcpu.setSregs(saved.sregs);
    vcpu.setRegs(saved.regs);
    if (saved.lapic) vcpu.setLapic(saved.lapic);
    vcpu.setEvents(saved.events);
    vcpu.setMpState(saved.mpState);
  }
}
