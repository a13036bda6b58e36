// The one-second stage watchdog of the upstream test (alarm(1), whose SIGALRM handler fails the test).
// The port drives its vCPU from one thread, as the C test does (see xen_shinfo/run.ts for why), so the
// alarm is a deadline: each KVM_RUN gets the time left as its own timeout, which the addon enforces
// with a timer that interrupts KVM_RUN.
export class Watchdog {
  private deadline: number | undefined;

  constructor(private readonly report: () => string) {}

  /** alarm(seconds): (re)arms; alarm(0) cancels. */
  alarm(seconds: number): void {
    this.deadline = seconds > 0 ? Date.now() + seconds * 1000 : undefined;
  }

  /** The timeout for the next run: undefined when disarmed, at least 1 ms when armed. */
  remainingMs(): number | undefined {
    if (this.deadline === undefined) return undefined;
    return Math.max(1, this.deadline - Date.now());
  }

  /** What the upstream handler prints: evtchn_upcall_pending, a vCPU dump, "IRQ delivery timed out". */
  fire(): string {
    this.deadline = undefined;
    return this.report();
  }
}
