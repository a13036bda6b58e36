// `kvm-xen test --vm`: the project's selftest suite run inside a booted kernel, its TAP streamed back.
import path from 'node:path';

import { projectRoot } from '../paths';
import { runInVm, type RunRequest, type VmOptions, type VmOutcome, type VmResult } from './run';

/** Where the suite's output goes, and what to do when a flaky boot is retried. */
export type SuiteIo = Pick<RunRequest, 'output' | 'errorOutput' | 'onRetry'>;

export const cliPath = (): string => path.join(projectRoot, 'dist', 'bin', 'kvm-xen.js');

/** Runs `kvm-xen test ...testArgs` in the VM; the result's status is the suite's (0/1/4) or the runner's. */
export function runSuiteInVm(options: VmOptions, testArgs: readonly string[], io: SuiteIo = {}): Promise<VmResult> {
  return runInVm({ ...options, ...io, command: [process.execPath, cliPath(), 'test', ...testArgs], cwd: projectRoot });
}

/** Failures where the guest's console says more than our one line. */
const SHOW_CONSOLE = new Set<VmOutcome>(['guestPanic', 'noStart', 'flake']);

/** Prints the runner's own failure (if any) the way every VM verb does; returns the exit status. */
export function reportVmResult(result: VmResult, verb = 'vm'): number {
  if (result.outcome !== 'exited') {
    process.stderr.write(`kvm-xen ${verb}: ${result.message}\n`);
    if (SHOW_CONSOLE.has(result.outcome)) for (const line of result.consoleTail) process.stderr.write(`  | ${line}\n`);
  }
  return result.status;
}
