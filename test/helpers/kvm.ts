// Tests that need the real /dev/kvm: open it or skip with the reason, and the basics guest
// (test/guests/basics.c) set to one of its scenarios.
import { GuestMachine, type GuestMachineOptions } from '../../lib/guest';
import { Kvm } from '../../lib/kvm';

/** Opens /dev/kvm, closed when the test ends; without it, the test is skipped with the reason. */
export function kvmOrSkip(t: tap.Test): Kvm | undefined {
  let kvm: Kvm;
  try {
    kvm = Kvm.open();
  } catch (error) {
    t.plan(0, `/dev/kvm is not available: ${(error as Error).message}`);
    return undefined;
  }
  t.teardown(() => kvm.close());
  return kvm;
}

/** The values of `enum scenario` in test/guests/basics.c. */
export const scenarios = {
  sync: 1, pio: 2, mmio: 3, hlt: 4, exception: 5, assert: 6, irq: 7, spin: 8, pageFault: 9,
} as const;

export type ScenarioName = keyof typeof scenarios;

/** A VM running the basics guest in `scenario` (a name, or any number for the guest's default case), closed when the test ends. */
export function basicsMachine(t: tap.Test, kvm: Kvm, scenario: ScenarioName | number,
  options: Omit<GuestMachineOptions, 'program'> = {}): GuestMachine {
  const machine = GuestMachine.create(kvm, { program: 'basics', ...options });
  t.teardown(() => machine.close());
  machine.memory.write64(machine.symbol('scenario'), BigInt(typeof scenario === 'number' ? scenario : scenarios[scenario]));
  // Capture guest prints instead of writing them between TAP lines.
  machine.onPrint = (message) => t.comment(`guest: ${message}`);
  return machine;
}
