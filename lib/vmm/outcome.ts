// What a `kvm-xen boot` run's observation means, in the outcomes and exit statuses of `kvm-xen vm`
// (lib/vm/errors.ts): the command's own status, or which way the run failed. Pure.
import { CRASH, type VmOutcome } from '../vm/classify';
import type { MachineEnd } from './machine';

export interface BootObservation {
  /** The command's status from the end marker, if it came. */
  exitStatus: number | undefined;
  startedCommand: boolean;
  /** The kernel's console before the command started (and after, should the command not end). */
  console: string;
  end: MachineEnd;
  stoppedFor: 'timeout' | 'bootTimeout' | 'interrupted' | undefined;
}

export interface BootVerdict {
  outcome: VmOutcome;
  message: string;
  consoleTail: string[];
}

export function describeEnd(end: MachineEnd): string {
  switch (end.reason) {
    case 'reset': return 'the guest reset the machine (i8042)';
    case 'shutdown': return `vCPU ${end.vcpu} triple-faulted (shutdown)`;
    case 'system-event': return `vCPU ${end.vcpu} raised system event ${end.type}`;
    case 'stopped': return 'the VMM stopped the machine';
    case 'failed': return end.message;
    case 'migrated': return 'the guest was migrated to another machine';
  }
}

export function judgeBoot(seen: BootObservation, limits: { timeoutMs: number; bootTimeoutMs: number }): BootVerdict {
  const lines = seen.console.split('\n').map((line) => line.replace(/\r$/, '')).filter((line) => line.trim() !== '');
  const crashAt = lines.findIndex((line) => CRASH.test(line));
  const tail = crashAt >= 0 ? lines.slice(Math.max(0, crashAt - 2), crashAt + 40) : lines.slice(-20);
  const verdict = (outcome: VmOutcome, message: string): BootVerdict => ({ outcome, message, consoleTail: outcome === 'exited' ? [] : tail });
  if (seen.exitStatus !== undefined) return verdict('exited', '');
  if (seen.stoppedFor === 'interrupted') return verdict('interrupted', 'interrupted; the machine was stopped');
  if (seen.stoppedFor === 'timeout') return verdict('timeout', `the run passed its time limit of ${limits.timeoutMs / 1000} s; the machine was stopped`);
  const when = seen.startedCommand ? 'while the command ran' : 'before the command started';
  if (crashAt >= 0) return verdict('guestPanic', `the guest kernel crashed ${when}: ${lines[crashAt]!.replace(/^\s*\[\s*\d+\.\d+\]\s*/, '').trim()}`);
  if (seen.stoppedFor === 'bootTimeout') return verdict('noStart', `the guest did not start the command within ${limits.bootTimeoutMs / 1000} s; the machine was stopped`);
  if (!seen.startedCommand) return verdict('noStart', `the guest never started the command: ${describeEnd(seen.end)}`);
  return verdict('guestPanic', `the machine ended while the command ran, without an exit status: ${describeEnd(seen.end)}`);
}
