// lib/vm: boot a kernel in QEMU (nested KVM) and run a command inside it.
export { startSession, GuestSession, SessionEnded, type SessionOptions, type CommandResult } from './session';
export { BOOTED_KERNEL_ENV, runInVm, prepareKernel, warmStartByDefault, type RunRequest, type VmOptions, type VmResult, type VmOutcome, type Sink } from './run';
export { vmExitStatus, VmError, type VmFailure } from './errors';
export { resolveKernel, withKvmModules, type KernelImage } from './kernel';
export { ensureHostTools, RUNNER_PACKAGES } from './host-tools';
export { shellQuote } from './guest-init';
export type { Accel } from './qemu';
export { validateVmOptions, MAX_SMP, MIN_MEM_MB, hostMemMb } from './options';
export { parseKvmParam, formatKvmParam, type KvmParam } from './module-params';
