// An eventfd(2): the doorbell of irqfd (KVM_IRQFD) and of Xen event channels delivered to userspace.
import os from 'node:os';

import { check, ClosedError } from './errors';
import { native, type FdHandle } from './native';

export interface EventFdOptions {
  /** Initial counter value (default 0). */
  initial?: number;
  /** EFD_SEMAPHORE: each read takes 1 instead of the whole count. */
  semaphore?: boolean;
}

export class EventFd implements Disposable {
  private constructor(readonly handle: FdHandle) {}

  /** Creates a non-blocking, close-on-exec eventfd. */
  static create(options: EventFdOptions = {}): EventFd {
    const result = native.eventfd(options.initial ?? 0, options.semaphore ?? false);
    if (typeof result === 'number') check(result, 'eventfd');
    return new EventFd(result as FdHandle);
  }

  get fd(): number {
    this.ensureOpen();
    return this.handle.fd;
  }

  get closed(): boolean {
    return this.handle.closed;
  }

  /** Adds `value` to the counter (signals it). */
  write(value = 1n): void {
    this.ensureOpen();
    check(native.eventfdWrite(this.handle, value), 'write', undefined, 'eventfd');
  }

  /** Takes the counter; undefined when it is zero (the fd never blocks). */
  read(): bigint | undefined {
    this.ensureOpen();
    const result = native.eventfdRead(this.handle);
    if (typeof result === 'bigint') return result;
    if (result === -os.constants.errno.EAGAIN) return undefined;
    check(result, 'read', undefined, 'eventfd');
    return undefined;
  }

  close(): void {
    this.handle.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private ensureOpen(): void {
    if (this.handle.closed) throw new ClosedError('EventFd');
  }
}
