// `kvm-xen test --vm`: the project's selftest suite run inside a booted kernel, its TAP streamed back.
import path from 'node:path';

import { projectRoot } from '../paths';
import { runInVm, type VmOptions, type VmResult } from './run';

export const cliPath = (): string => path.join(projectRoot, 'dist', 'bin', 'kvm-xen.js');

/** Runs `kvm-xen test ...testArgs` in the VM; the result's status is the suite's (0/1/4) or the runner's. */
export function runSuiteInVm(options: VmOptions, testArgs: readonly string[], output?: { write(chunk: Buffer | string): unknown }): Promise<VmResult> {
  return runInVm({ ...options, command: [process.execPath, cliPath(), 'test', ...testArgs], cwd: projectRoot, ...(output ? { output } : {}) });
}

/** Prints the runner's own failure (if any) the way every VM verb does. */
export function reportVmResult(result: VmResult): number {
  if (result.outcome !== 'exited') {
    process.stderr.write(`kvm-xen vm: ${result.message}\n`);
    for (const line of result.consoleTail) process.stderr.write(`  | ${line}\n`);
  }
  return result.status;
}
