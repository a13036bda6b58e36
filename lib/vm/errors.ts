// The VM runner's own failures, each with its documented exit status (the command's own status passes
// through unchanged; these are chosen outside the range commands normally use for themselves).
export const vmExitStatus = {
  /** Bad command line. */
  usage: 64,
  /** The kernel (or a module) is missing, unreadable or not a kernel. */
  badKernel: 66,
  /** A host tool (QEMU, busybox, xz) is missing and could not be installed. */
  missingTool: 69,
  /** The guest kernel panicked or oopsed. */
  guestPanic: 70,
  /** The guest never started the command (boot or init failed). */
  noStart: 71,
  /** An infrastructure flake that persisted after one retry (the TCG int3 oops). */
  flake: 75,
  /** The run passed --timeout. */
  timeout: 124,
  /** We were interrupted (Ctrl-C, SIGTERM, SIGHUP): QEMU was stopped. */
  interrupted: 130,
  /**
   * The reader of the command's output went away (EPIPE: `kvm-xen vm -- ... | head`): QEMU was stopped.
   * 141 = 128 + SIGPIPE, the status a Unix tool killed by SIGPIPE ends with, so shells treat it alike.
   */
  outputClosed: 141,
} as const;

export type VmFailure = keyof typeof vmExitStatus;

export class VmError extends Error {
  constructor(readonly failure: VmFailure, message: string) {
    super(message);
    this.name = 'VmError';
  }

  get status(): number {
    return vmExitStatus[this.failure];
  }
}
