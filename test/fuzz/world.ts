// What the fuzz child has made so far: the library's objects and the raw addon's, open or closed, as
// pools that the calls draw their targets and arguments from. Each pool is bounded; the oldest member
// is closed to make room (and kept a while, closed, for calls on closed objects).
import type { GuestMachine } from '../../lib/guest';
import type { EventFd, Kvm, Vcpu, Vm } from '../../lib/kvm';
import type { FdHandle, IoctlLoop, Mapping, VcpuRunner } from '../../lib/kvm/native';
import type { IoctlRepeater } from '../../lib/kvm/ioctl-loop';
import { Random } from './random';

interface Closable {
  close(): void;
}

class Pool<T> {
  readonly items: T[] = [];

  constructor(private readonly limit: number, private readonly retire: (item: T) => void, private readonly graveyard: unknown[]) {}

  add(item: T): void {
    this.items.push(item);
    while (this.items.length > this.limit) {
      const oldest = this.items.shift()!;
      try {
        this.retire(oldest);
      } catch {
        // Retiring an object the fuzz already broke is fine.
      }
      this.graveyard.push(oldest);
      if (this.graveyard.length > 16) this.graveyard.shift();
    }
  }

  pick(random: Random): T | undefined {
    return this.items.length > 0 ? random.pick(this.items) : undefined;
  }

  drain(): T[] {
    return this.items.splice(0);
  }
}

const close = (item: Closable): void => item.close();

export class World {
  /** Closed or retired objects: calls on them must throw, not crash. */
  readonly graveyard: unknown[] = [];
  readonly kvms = new Pool<Kvm>(3, close, this.graveyard);
  readonly vms = new Pool<Vm>(6, close, this.graveyard);
  readonly vcpus = new Pool<Vcpu>(12, close, this.graveyard);
  readonly machines = new Pool<GuestMachine>(3, close, this.graveyard);
  readonly eventFds = new Pool<EventFd>(8, close, this.graveyard);
  readonly handles = new Pool<FdHandle>(24, close, this.graveyard);
  readonly mappings = new Pool<Mapping>(12, (mapping) => mapping.unmap(), this.graveyard);
  readonly runners = new Pool<VcpuRunner>(4, close, this.graveyard);
  // Racing threads hammer a CPU each: at most two, stopped soon.
  readonly loops = new Pool<IoctlLoop | IoctlRepeater>(2, (loop) => loop.stop(), this.graveyard);
  readonly pending: Array<Promise<unknown>> = [];
  settled = { resolved: 0, rejected: 0 };

  constructor(readonly random: Random) {}

  /** Every object of the run, for argument positions. */
  live(): unknown[] {
    return [
      ...this.kvms.items, ...this.vms.items, ...this.vcpus.items, ...this.machines.items, ...this.eventFds.items,
      ...this.handles.items, ...this.mappings.items, ...this.runners.items, ...this.loops.items, ...this.graveyard,
    ];
  }

  /** Follows a promise the library returned: it must settle, one way or the other. */
  track(promise: Promise<unknown>): void {
    this.pending.push(promise.then(
      () => { this.settled.resolved++; },
      () => { this.settled.rejected++; },
    ));
  }

  /** Stops and closes everything, in an order that exercises the library's own clean-up too. */
  closeAll(): void {
    const attempt = (action: () => void): void => {
      try {
        action();
      } catch {
        // Already closed, or broken on purpose.
      }
    };
    this.loops.drain().forEach((loop) => attempt(() => loop.stop()));
    this.runners.drain().forEach((runner) => attempt(() => runner.close()));
    this.machines.drain().forEach((machine) => attempt(() => machine.close()));
    this.vms.drain().forEach((vm) => attempt(() => vm.close()));
    this.vcpus.drain().forEach((vcpu) => attempt(() => vcpu.close()));
    this.kvms.drain().forEach((kvm) => attempt(() => kvm.close()));
    this.eventFds.drain().forEach((eventFd) => attempt(() => eventFd.close()));
    this.handles.drain().forEach((handle) => attempt(() => handle.close()));
    this.mappings.drain().forEach((mapping) => attempt(() => mapping.unmap()));
  }
}
