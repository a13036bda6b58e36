// The calling thread as a real-time task, for a stretch of vCPU runs that must not be preempted: Xen's
// runstate accounting charges every scheduler wait of the thread that issues KVM_RUN to the guest as
// "runnable" time, so a check that expects none (xen_shinfo_test's stage 5) fails whenever an ordinary
// task takes the CPU for a moment. SCHED_FIFO at the lowest real-time priority: no ordinary task
// preempts it, and real-time ones are rare. Only for stretches that end soon: a real-time thread that
// never blocks has its CPU to itself.
import { check } from './errors';
import { native } from './native';

/**
 * Makes the calling thread SCHED_FIFO (`true`) or SCHED_OTHER again (`false`). Throws KvmError EPERM
 * where the process lacks CAP_SYS_NICE.
 */
export function setThreadRealtime(realtime: boolean): void {
  if (typeof realtime !== 'boolean') throw new TypeError(`realtime must be a boolean, got ${typeof realtime}`);
  check(native.setThreadRealtime(realtime), 'sched_setscheduler', undefined, `${realtime ? 'SCHED_FIFO' : 'SCHED_OTHER'} for the calling thread`);
}
