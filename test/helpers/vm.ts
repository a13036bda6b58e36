// Running the CLI and VM commands from tests, capturing output.
import { spawn } from 'node:child_process';

import { cliPath } from '../../lib/vm';
import { projectRoot } from '../../lib/paths';

export interface CliRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `kvm-xen ...args` as a child process. */
export function runCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath(), ...args], { cwd: projectRoot, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr, ms: Date.now() - started }));
  });
}
