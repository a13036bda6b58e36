// The VM-wide state a migration carries besides memory and vCPUs: the in-kernel PICs and IOAPIC, the
// PIT, the kvmclock, and the device models this VMM runs in TypeScript (the UART, the CMOS RAM).
import { irqchipIds, type ClockData, type IrqchipId } from '../../kvm';
import type { UartState } from '../devices/uart';
import type { LinuxMachine } from '../machine';

export interface PlatformState {
  irqchips: Uint8Array[];
  pit: Uint8Array;
  clock: ClockData;
  uart: UartState;
  cmos: { index: number; ram: Uint8Array };
}

const chips = Object.keys(irqchipIds) as IrqchipId[];

/** Saves the platform of a paused machine. */
export function savePlatform(machine: LinuxMachine): PlatformState {
  return {
    irqchips: chips.map((chip) => machine.vm.getIrqchip(chip)),
    pit: machine.vm.getPit(),
    clock: machine.vm.getClock(),
    uart: machine.console.saveState(),
    cmos: machine.cmos.saveState(),
  };
}

/**
 * Restores it into a machine that has not run. The kvmclock goes on from the source's value at the
 * pause (not advanced by the downtime, as the guest's TSC is not either: the guest sees no time pass).
 */
export function restorePlatform(machine: LinuxMachine, state: PlatformState): void {
  for (const chip of state.irqchips) machine.vm.setIrqchip(chip);
  machine.vm.setPit(state.pit);
  machine.vm.setClock(state.clock.clock);
  machine.console.restoreState(state.uart);
  machine.cmos.restoreState(state.cmos);
}
