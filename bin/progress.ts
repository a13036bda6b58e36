// How the CLI shows the library's progress (lib/progress.ts) and the VM runner's failures: on stderr,
// so stdout carries only the command's output or the verb's result.
import type { OnProgress } from '../lib/progress';
import type { VmOutcome, VmResult } from '../lib/vm';

const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);

/**
 * The CLI's onProgress. A download is one line redrawn on a terminal, and a line per quarter
 * otherwise (CI logs).
 */
export function printProgress(): OnProgress {
  const tty = process.stderr.isTTY === true;
  const reported = new Map<string, number>();
  return (event) => {
    switch (event.kind) {
      case 'step': process.stderr.write(`kvm-xen: ${event.text}\n`); break;
      case 'toolOutput': case 'console': process.stderr.write(event.text); break;
      case 'retry': process.stderr.write(`kvm-xen vm: ${event.reason}; retrying once in a fresh VM (output so far came from the failed attempt)\n`); break;
      case 'download': {
        const { name, bytes, expectedBytes: expected, done } = event;
        const share = expected ? Math.min(1, bytes / expected) : undefined;
        const text = `kvm-xen: fetching ${name}: ${mb(bytes)}${expected ? ` of ${mb(expected)}` : ''} MB${share === undefined ? '' : ` (${Math.floor(share * 100)}%)`}`;
        if (tty) process.stderr.write(done ? '\n' : `\r${text}\x1b[K`);
        else if (!done && share !== undefined && share >= (reported.get(name) ?? 0) + 0.25) {
          reported.set(name, Math.floor(share * 4) / 4);
          process.stderr.write(`${text}\n`);
        }
        if (done) reported.delete(name);
        break;
      }
    }
  };
}

/** Failures where the guest's console says more than our one line. */
const SHOW_CONSOLE = new Set<VmOutcome>(['guestPanic', 'noStart', 'flake']);

/** Prints the runner's own failure (if any) the way every VM verb does; returns the exit status. */
export function reportVmResult(result: VmResult): number {
  if (result.outcome !== 'exited') {
    process.stderr.write(`kvm-xen vm: ${result.message}\n`);
    if (SHOW_CONSOLE.has(result.outcome)) for (const line of result.consoleTail) process.stderr.write(`  | ${line}\n`);
  }
  return result.status;
}
