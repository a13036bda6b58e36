// The one-second stage watchdog of the upstream test (alarm(1) with a SIGALRM handler that fails the
// test). Here it is a timer of the event loop, which keeps running while the guest runs on its own
// thread; when it fires it kicks the vCPU out of KVM_RUN and records why, and the run loop fails the
// stage with that reason.
import type { Vcpu } from '../../lib/kvm';

export class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  private firedReason: string | undefined;

  constructor(private readonly vcpu: Vcpu, private readonly onFire: () => string) {}

  /** alarm(seconds): (re)arms; alarm(0) cancels. */
  alarm(seconds: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (seconds <= 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.firedReason = this.onFire();
      this.vcpu.kick();
    }, seconds * 1000);
  }

  /** The report of a watchdog that fired (and forgets it), or undefined. */
  takeFired(): string | undefined {
    const reason = this.firedReason;
    this.firedReason = undefined;
    return reason;
  }

  get fired(): boolean {
    return this.firedReason !== undefined;
  }
}
