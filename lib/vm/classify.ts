// What a run's observation means: the command's own status, or which of the runner's failures it was
// (errors.ts). Pure, so each rule can be tested on console text without booting anything.
import type { BootObservation } from './boot';
import type { VmFailure } from './errors';
import { START_MARKER } from './guest-init';

export type VmOutcome = 'exited' | VmFailure;

export interface Verdict {
  outcome: VmOutcome;
  /** For a failure: what happened, in one line. */
  message: string;
  /** Console lines around a crash (or the last ones), for the report. */
  consoleTail: string[];
}

/** Multi-threaded TCG running stale bytes while the guest patches its own text (vm-on-this-machine.md). */
const INT3_OOPS = /Oops: int3\b/;
/**
 * A guest "general protection fault" in text_poke_early during boot: TCG again running stale bytes
 * while the kernel patches its own text (alternatives), seen once before the command started.
 */
const TEXT_POKE_GPF = /general protection fault[\s\S]{0,2000}text_poke_early/;
/**
 * The boot-time check that the IO-APIC delivers the timer interrupt, failed: under TCG on a loaded host
 * the emulated PIT's ticks arrive too late for the kernel's short calibration window (seen several times
 * at a load average of 15-20 on 2 cores, never on a quiet host). It panics before the command starts.
 */
const IOAPIC_TIMER_PANIC = /IO-APIC \+ timer doesn't work!/;
/** A kernel crash: a panic, an oops, a BUG, a general protection fault in the kernel. */
export const CRASH = /Kernel panic - not syncing|Oops: |BUG: |general protection fault/;
/**
 * A kernel that warned and went on: WARN() ("WARNING: CPU: 0 PID: 1 at ..."), BUG: (KASAN's reports
 * among them), UBSAN, lockdep's splats, a GPF or oops in a process the kernel survived. A KVM patch
 * that WARNs must not pass because the command's status was 0.
 */
const KERNEL_PROBLEM = /^(WARNING: |BUG: |UBSAN: |kernel BUG at |Oops: |general protection fault)|possible (circular|recursive) locking dependency|inconsistent lock state|suspicious RCU usage|KASAN: /;
/** What our init says when it cannot go on (guest-init.ts). */
const INIT_FAILURE = /kvm-xen-init: (.*)/;

/** "[   12.345678] " before a kernel message. */
const PRINTK_TIME = /^\s*\[\s*\d+\.\d+\]\s*/;

export interface Limits {
  timeoutMs: number;
  bootTimeoutMs: number;
}

/** Terminal escape sequences (CSI, OSC, two-byte ESC x) and other control characters but tab. */
const ESCAPE_SEQUENCE = /\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[ -/]*[0-~])?/g;
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/g;

/**
 * The console's lines as plain text (the tail is printed on the user's terminal: what the guest wrote
 * there must not move its cursor or change its colours), without our init's start line (its nonce
 * means nothing to a reader).
 */
function lines(text: string): string[] {
  return text.split('\n').map((line) => line.replace(ESCAPE_SEQUENCE, '').replace(CONTROL, '')).filter((line) => !line.includes(START_MARKER));
}

/** A console line without its printk time stamp. */
const message = (line: string): string => line.replace(PRINTK_TIME, '').trim();

function tail(consoleLines: readonly string[]): string[] {
  const at = consoleLines.findIndex((line) => CRASH.test(line) || KERNEL_PROBLEM.test(message(line)));
  const kept = at >= 0 ? consoleLines.slice(Math.max(0, at - 2), at + 40) : consoleLines.slice(-20);
  return kept.filter((line, index) => line.trim() !== '' || index < kept.length - 1);
}

/** The console lines (classify's lines()) where the kernel warned, oopsed or splatted, without time stamps. */
function kernelProblems(consoleLines: readonly string[]): string[] {
  return consoleLines.map(message).filter((line) => KERNEL_PROBLEM.test(line));
}

/** The kernel's problems (WARN, BUG, oops, lockdep, KASAN, ...) in a piece of console text. */
export function kernelProblemsIn(consoleText: string): string[] {
  return kernelProblems(lines(consoleText));
}

/**
 * The run's verdict. `accel` is the accelerator the guest ran under: the TCG flakes (int3 oops; a GPF
 * in text_poke_early or the IO-APIC timer check's panic before the command started) are flakes only
 * under TCG; under KVM an oops is the
 * kernel's, and fails the run.
 */
export function classify(seen: BootObservation, limits: Limits, accel: 'kvm' | 'tcg'): Verdict {
  const consoleLines = lines(seen.console);
  const verdict = (outcome: VmOutcome, message: string): Verdict => ({ outcome, message, consoleTail: outcome === 'exited' ? [] : tail(consoleLines) });
  if (seen.stoppedFor === 'interrupted') return verdict('interrupted', 'interrupted; QEMU was stopped');
  if (seen.stoppedFor === 'outputClosed') return verdict('outputClosed', "the command's output was closed by its reader; QEMU was stopped");
  if (seen.stoppedFor === 'alongsideFailed') return verdict('noStart', `the warm start failed: ${seen.alongsideError}; QEMU was stopped`);
  const when = seen.startedCommand ? 'while the command ran' : 'before the command started';
  if (accel === 'tcg' && consoleLines.some((line) => INT3_OOPS.test(line))) {
    return verdict('flake', `the guest kernel hit "Oops: int3" ${when}, a known multi-threaded TCG flake, not a kernel or test failure`);
  }
  if (accel === 'tcg' && !seen.startedCommand && TEXT_POKE_GPF.test(seen.console)) {
    return verdict('flake', 'the guest kernel hit a general protection fault in text_poke_early before the command started, a known TCG flake while the kernel patches its own text, not a kernel or test failure');
  }
  if (accel === 'tcg' && !seen.startedCommand && IOAPIC_TIMER_PANIC.test(seen.console)) {
    return verdict('flake', "the guest kernel panicked at boot with \"IO-APIC + timer doesn't work!\", a TCG flake on a loaded host (the emulated timer missed the kernel's check), not a kernel or test failure");
  }
  // The end marker came: the command finished; but a kernel that warned on the way fails the run.
  if (seen.exitStatus !== undefined) {
    const problems = kernelProblems(consoleLines);
    if (problems.length === 0) return verdict('exited', '');
    return verdict('guestPanic', `the guest kernel reported ${problems.length} problem(s) during the run (the command's own status was ${seen.exitStatus}): ${problems.slice(0, 5).join(' | ')}`);
  }
  if (seen.stoppedFor === 'timeout') return verdict('timeout', `the run passed its time limit of ${limits.timeoutMs / 1000} s; QEMU was stopped`);
  const crash = consoleLines.find((line) => CRASH.test(line)) ?? consoleLines.find((line) => KERNEL_PROBLEM.test(message(line)));
  if (crash) return verdict('guestPanic', `the guest kernel crashed ${when}: ${message(crash)}`);

  const initFailure = consoleLines.map((line) => INIT_FAILURE.exec(line)?.[1]).find((message) => message !== undefined);
  if (initFailure) return verdict('noStart', `the guest could not start the command: ${initFailure}`);
  if (seen.stoppedFor === 'bootTimeout') return verdict('noStart', `the guest did not start the command within ${limits.bootTimeoutMs / 1000} s of booting; QEMU was stopped`);
  const qemuError = seen.qemuErrors.trim().split('\n').filter(Boolean).pop();
  if (!seen.startedCommand) {
    const why = qemuError ? `QEMU: ${qemuError}` : consoleLines.filter((line) => line.trim()).pop() ?? 'no console output';
    return verdict('noStart', `the guest never started the command: ${why}`);
  }
  const how = qemuError ? `QEMU: ${qemuError}` : `QEMU ended with ${seen.qemuEnd}${seen.qemuEnd.startsWith('signal') ? ', not sent by kvm-xen' : ''}`;
  return verdict('guestPanic', `the guest stopped while the command ran, without a crash message or an exit status (${how})`);
}
