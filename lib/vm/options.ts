// The one check of a run's VM options, for runInVm and the CLI alike: a bad option is a TypeError
// (wrong type) or RangeError (wrong value) naming it, thrown before anything is fetched or booted.
// The CLI turns these into usage errors (status 64).
import os from 'node:os';

import { SHELL_NAME } from './guest-init';
import { validateKvmParams } from './module-params';
import type { VmOptions } from './run';

/** QEMU's limit for the q35 machine (pc-q35-7.2, Debian bookworm's QEMU: "max CPUs ... is 288"). */
export const MAX_SMP = 288;
/** Below this the Debian kernel with our initramfs does not get to the command. */
export const MIN_MEM_MB = 128;
/** Node's timers fire at once for a delay beyond 2^31-1 ms (about 24.8 days). */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;
export const ACCELS = ['auto', 'kvm', 'tcg'] as const;

/** The host's memory in MiB: a guest cannot have more. */
export function hostMemMb(): number {
  return Math.floor(os.totalmem() / (1024 * 1024));
}

function integerIn(name: string, value: unknown, min: number, max: number, why: string): void {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${name} must be an integer from ${min} to ${max} (${why}), got ${value}`);
}

function optionalString(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'string') throw new TypeError(`${name} must be a string, got ${typeof value}`);
  if (typeof value === 'string' && value.includes('\0')) throw new RangeError(`${name} cannot contain NUL bytes`);
}

/** Throws a TypeError or RangeError naming the first bad option. */
export function validateVmOptions(options: VmOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('the VM options must be an object');
  optionalString('kernel', options.kernel);
  optionalString('kvmModules', options.kvmModules);
  optionalString('append', options.append);
  if (options.accel !== undefined && !(ACCELS as readonly unknown[]).includes(options.accel)) {
    throw new RangeError(`accel must be ${ACCELS.join(', ')}, got ${JSON.stringify(options.accel)}`);
  }
  if (options.smp !== undefined) integerIn('smp', options.smp, 1, MAX_SMP, "QEMU's limit for q35");
  if (options.memMb !== undefined) integerIn('memMb', options.memMb, MIN_MEM_MB, hostMemMb(), 'MiB, at most the host\'s memory');
  if (options.timeoutMs !== undefined) integerIn('timeoutMs', options.timeoutMs, 1, MAX_TIMEOUT_MS, 'ms');
  if (options.verbose !== undefined && typeof options.verbose !== 'boolean') throw new TypeError(`verbose must be a boolean, got ${typeof options.verbose}`);
  if (options.snapshot !== undefined && typeof options.snapshot !== 'boolean') throw new TypeError(`snapshot must be a boolean, got ${typeof options.snapshot}`);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw new TypeError('onProgress must be a function');
  if (options.kvmParams !== undefined) validateKvmParams(options.kvmParams);
  if (options.env !== undefined) {
    if (typeof options.env !== 'object' || options.env === null) throw new TypeError('env must be an object of strings');
    for (const [name, value] of Object.entries(options.env)) {
      if (!SHELL_NAME.test(name)) throw new RangeError(`env name ${JSON.stringify(name)} is not a valid shell variable name (letters, digits, _; not starting with a digit)`);
      optionalString(`env.${name}`, value);
      if (value === undefined) throw new TypeError(`env.${name} must be a string`);
    }
  }
}
