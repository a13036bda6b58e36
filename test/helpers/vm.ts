// Running the CLI and VM commands from tests, capturing output.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

import { cliPath } from '../../bin/suite-in-vm';
import { projectRoot } from '../../lib/paths';

export interface CliRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunningCli {
  child: ChildProcess;
  /** Resolves once the child's stdout contains `text` (rejects if it ends first). */
  stdoutIncludes(text: string): Promise<void>;
  /** What the child has written to stderr so far. */
  stderrSoFar(): string;
  done: Promise<CliRun>;
}

/** Starts `kvm-xen ...args` as a child process, to watch or signal it while it runs. */
export function startCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): RunningCli {
  const started = Date.now();
  const child = spawn(process.execPath, [cliPath(), ...args], { cwd: options.cwd ?? projectRoot, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const waiter of waiters.filter((w) => stdout.includes(w.text))) waiter.resolve();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const done = new Promise<CliRun>((resolve) => {
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr, ms: Date.now() - started }));
  });
  const stdoutIncludes = (text: string): Promise<void> => new Promise((resolve, reject) => {
    if (stdout.includes(text)) return resolve();
    waiters.push({ text, resolve });
    void done.then((run) => reject(new Error(`kvm-xen ${args.join(' ')} ended (status ${run.status}) before printing ${JSON.stringify(text)}: ${run.stderr}`)));
  });
  return { child, stdoutIncludes, stderrSoFar: () => stderr, done };
}

/** Runs `kvm-xen ...args` as a child process. */
export function runCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliRun> {
  return startCli(args, options).done;
}

/** The pids of the processes whose command line mentions `text` (QEMU's names its run directory). */
export function processesMentioning(text: string): number[] {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'latin1').includes(text)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The lines of a CLI run's stderr that the CLI wrote itself ("kvm-xen ..."), not the guest's console. */
export function cliOwnLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('kvm-xen'));
}

/**
 * A failed CLI run's stderr for an assertion message: the CLI's own lines first (the verdict names the
 * crash; the console tail that follows it can be long enough to push it out of a plain tail), then the
 * last of the rest.
 */
export function stderrGist(run: { stderr: string }, tailChars = 500): string {
  const own = cliOwnLines(run.stderr).join(' | ');
  return `${own.slice(0, 1500)} … ${run.stderr.trim().slice(-tailChars)}`;
}
