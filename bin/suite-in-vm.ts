// `kvm-xen test --vm` and `compare`: the project's selftest suite run by this CLI inside a booted
// kernel, its TAP streamed back.
import path from 'node:path';

import { projectRoot } from '../lib/paths';
import { runInVm, type RunRequest, type VmOptions, type VmResult } from '../lib/vm';

/** This CLI's entry file (dist/bin/kvm-xen.js beside this one once compiled). */
export const cliPath = (): string => path.join(__dirname, 'kvm-xen.js');

/** Where the suite's output goes, and what to do when a flaky boot is retried. */
export type SuiteIo = Pick<RunRequest, 'output' | 'errorOutput' | 'onRetry'>;

/**
 * Runs `kvm-xen test ...testArgs` in the VM; the result's status is the suite's (0/1/4) or the runner's.
 * A retry after a TCG flake says so in the suite's output, as a KTAP diagnostic line.
 */
export function runSuiteInVm(options: VmOptions, testArgs: readonly string[], io: SuiteIo = {}): Promise<VmResult> {
  const onRetry = (reason: string): void => {
    io.onRetry?.(reason);
    io.output?.write(`# kvm-xen: retried in a fresh VM: ${reason}\n`);
  };
  return runInVm({ ...options, ...io, onRetry, command: [process.execPath, cliPath(), 'test', ...testArgs], cwd: projectRoot });
}
