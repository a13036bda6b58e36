// Running a host program without a shell and collecting what it says: the one way lib/debian and
// lib/kbuild call apt-get, dpkg, tar, patch, make and strip.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

export class ProgramError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProgramError';
  }
}

export interface ProgramResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface ProgramOptions {
  cwd?: string;
  /** The program's environment (default: ours). */
  env?: NodeJS.ProcessEnv;
  /** Called with each piece of the program's stderr as it comes (a tool's own progress). */
  onStderr?: (text: string) => void;
  /** Stops the program (SIGTERM); the call then rejects. */
  signal?: AbortSignal;
}

/** Runs `program` with `args`; resolves with its status and output, rejects only if it cannot start. */
export function runProgram(program: string, args: readonly string[], options: ProgramOptions = {}): Promise<ProgramResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], ...(options.signal ? { signal: options.signal } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      options.onStderr?.(chunk);
    });
    // Stopped by the signal: rejected once the program has really ended (what it was writing is done).
    let aborted: Error | undefined;
    child.on('error', (error) => {
      if (options.signal?.aborted) aborted = error;
      else reject(new ProgramError(`cannot run ${program}: ${error.message}`));
    });
    child.on('close', (code) => (aborted ? reject(aborted) : resolve({ status: code ?? 1, stdout, stderr })));
  });
}

/** The start time of a process (clock ticks since boot, /proc/PID/stat field 22), or undefined if it is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3];
  } catch {
    return undefined;
  }
}

/**
 * This process, written down as the owner of something on disk (a run directory, a build tree): its
 * pid and start time, which tells a reused pid apart once we are gone.
 */
export function ownerRecord(): string {
  return `${process.pid} ${processStartTime(process.pid) ?? ''}\n`;
}

/** Whether the process an ownerRecord() names still runs. */
export function ownerAlive(record: string): boolean {
  const [pid, started] = record.trim().split(' ');
  if (!pid || !/^\d+$/.test(pid)) return false;
  return processStartTime(Number(pid)) === started;
}
