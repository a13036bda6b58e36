// Errors of failed syscalls: `KVM_XEN_HVM_SET_ATTR failed: EINVAL (invalid argument)`.
import os from 'node:os';
import { getSystemErrorMap } from 'node:util';

/** errno -> its name, built on the first error (at load it was a few ms of every start-up under TCG). */
let errnoNames: Map<number, string> | undefined;

export function errnoName(errno: number): string {
  if (errnoNames === undefined) {
    errnoNames = new Map();
    for (const [name, value] of Object.entries(os.constants.errno)) {
      if (!errnoNames.has(value)) errnoNames.set(value, name);
    }
  }
  return errnoNames.get(errno) ?? `E${errno}`;
}

function errnoMessage(errno: number): string {
  return getSystemErrorMap().get(-errno)?.[1] ?? 'unknown error';
}

export class KvmError extends Error {
  /** 'EINVAL', 'ENOTTY', ... */
  readonly code: string;
  readonly errno: number;
  /** The syscall: 'ioctl', 'open', 'mmap', 'eventfd', 'read', 'write'. */
  readonly syscall: string;
  /** The ioctl's name where the syscall was an ioctl, e.g. 'KVM_XEN_HVM_SET_ATTR'. */
  readonly ioctl: string | undefined;

  constructor(syscall: string, errno: number, ioctl?: string, detail?: string) {
    const code = errnoName(errno);
    super(`${ioctl ?? syscall} failed: ${code} (${errnoMessage(errno)})${detail ? `: ${detail}` : ''}`);
    this.name = 'KvmError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    this.ioctl = ioctl;
  }
}

/** Returns a non-negative syscall result; throws KvmError for -errno. */
export function check(result: number, syscall: string, ioctl?: string, detail?: string): number {
  if (result < 0) throw new KvmError(syscall, -result, ioctl, detail);
  return result;
}

/** Thrown when an object is used after close(). */
export class ClosedError extends Error {
  readonly code = 'ERR_KVM_CLOSED';
  constructor(what: string) {
    super(`${what} is closed`);
    this.name = 'ClosedError';
  }
}

/** Thrown when a vCPU is asked to run (or yield) while a run of it is in progress. */
export class BusyError extends Error {
  readonly code = 'ERR_KVM_BUSY';
  constructor(what: string) {
    super(`${what} is busy: one run at a time`);
    this.name = 'BusyError';
  }
}

/**
 * Runs `action`; an error from it is thrown again as a TypeError (a RangeError stays one) with `where`
 * in front of its message: for checks deep in a codec that do not know which argument they check.
 */
export function naming<T>(where: string, action: () => T): T {
  try {
    return action();
  } catch (error) {
    const message = `${where}: ${(error as Error).message}`;
    throw error instanceof RangeError ? new RangeError(message, { cause: error }) : new TypeError(message, { cause: error });
  }
}
