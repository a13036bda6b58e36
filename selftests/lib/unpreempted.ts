// A stretch of the vCPU thread that ordinary tasks must not preempt (lib/kvm/realtime.ts says why):
// a stage begins it right before the KVM call whose effect the guest then checks, and the run loop
// ends it when the guest's next exit comes back. Upstream's test runs such stretches as an ordinary
// task and fails now and then when something else takes the CPU (stage 5 in about 1 of 30 runs of a
// TCG guest here, each time 0.1-0.2 ms of "runnable" time); the kernel behaviour checked is the same.
import { KvmError } from '../../lib/kvm/errors';
import { setThreadRealtime } from '../../lib/kvm/realtime';

export class Unpreempted {
  private held = false;

  constructor(private readonly log: (message: string) => void) {}

  /** Best effort: without CAP_SYS_NICE (EPERM) the stretch runs as an ordinary task, as upstream's does. */
  begin(): void {
    try {
      setThreadRealtime(true);
      this.held = true;
    } catch (error) {
      if (!(error instanceof KvmError && error.code === 'EPERM')) throw error;
      this.log('not real-time for this stretch (no CAP_SYS_NICE): a preemption in it can fail the check');
    }
  }

  end(): void {
    if (!this.held) return;
    this.held = false;
    setThreadRealtime(false);
  }
}
