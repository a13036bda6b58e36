// KVM's forced emulation prefix from the host's side (the guest's is runtime/fep.h): whether the kvm
// module has it on, telling a guest program so before its first KVM_RUN (with the seed of its random
// choices), and reading back how many of the guest's guest_put() stores KVM emulated. The
// counterpart of the kernel selftests' kvm_is_forced_emulation_enabled() and the
// is_forced_emulation_enabled / guest_rng values they sync into every guest.
import fs from 'node:fs';

import type { GuestMachine } from './machine';

/** The kvm module's parameter: 0 off; bit 0 on (bit 1 also clears RFLAGS.RF on the emulated instruction). */
export const FORCE_EMULATION_PREFIX_PARAM = '/sys/module/kvm/parameters/force_emulation_prefix';

/** True when this machine's kvm module emulates instructions after the prefix (absent parameter: off). */
export function kvmForcedEmulationEnabled(file = FORCE_EMULATION_PREFIX_PARAM): boolean {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch {
    return false;
  }
  // An int in 6.12 ("1"); older kernels had a bool ("Y").
  return text === 'Y' || (/^\d+$/.test(text) && Number(text) !== 0);
}

export interface ForcedEmulationSetting {
  enabled: boolean;
  /** The seed of the guest's choices between a plain and an emulated store (printed, to replay a run). */
  seed: bigint;
}

/** Tells the guest program (linked with the runtime's fep.c) whether to use the prefix, and seeds its choices. */
export function setForcedEmulation(machine: GuestMachine, setting: Partial<ForcedEmulationSetting> = {}): ForcedEmulationSetting {
  const enabled = setting.enabled ?? kvmForcedEmulationEnabled();
  let seed = setting.seed ?? randomSeed();
  if (seed === 0n) seed = 1n;  // the guest's xorshift must not start at zero
  machine.memory.write8(machine.symbol('guest_fep_enabled'), enabled ? 1 : 0);
  machine.memory.write64(machine.symbol('guest_random_state'), seed);
  return { enabled, seed };
}

/**
 * 64 random bits from /dev/urandom. Not node:crypto: loading it (and the stream modules it pulls in)
 * cost xen_shinfo_test 55-165 ms of start-up in the TCG guest, for 8 bytes.
 */
function randomSeed(): bigint {
  const bytes = Buffer.alloc(8);
  const fd = fs.openSync('/dev/urandom', 'r');
  try {
    fs.readSync(fd, bytes, 0, bytes.length, null);
  } finally {
    fs.closeSync(fd);
  }
  return bytes.readBigUInt64LE();
}

/** How many stores the guest made through guest_put(), and how many of them KVM emulated. */
export function guestPutCounts(machine: GuestMachine): { stores: number; emulated: number } {
  return {
    stores: Number(machine.memory.read64(machine.symbol('guest_put_count'))),
    emulated: Number(machine.memory.read64(machine.symbol('guest_put_emulated'))),
  };
}
