// A racing thread: the addon repeats a list of ioctls on one fd, on an OS thread of its own, until
// stopped — for tests that need the kernel to handle two things at once (a VM attribute toggling while
// events are sent and the guest polls).
import { native, type FdHandle, type IoctlLoop } from './native';
import { requestIndex, type RequestName } from './requests';

export interface RepeatedIoctl {
  request: RequestName;
  arg?: Uint8Array | number;
  /** stop() takes effect only right after an entry marked here, so the loop ends in a chosen state. */
  stopPoint?: boolean;
}

export class IoctlRepeater {
  private readonly loop: IoctlLoop;
  private passes: number | undefined;

  constructor(handle: FdHandle, entries: readonly RepeatedIoctl[]) {
    this.loop = new native.IoctlLoop(handle, entries.map((entry) => ({
      request: requestIndex(entry.request),
      ...(entry.arg === undefined ? {} : { arg: entry.arg }),
      stopPoint: entry.stopPoint ?? false,
    })));
  }

  /** Stops the thread (waiting for it) and returns how many full passes it made. */
  stop(): number {
    this.passes ??= this.loop.stop();
    return this.passes;
  }
}
