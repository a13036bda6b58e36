// Running a host program without a shell and collecting what it says: the one way lib/debian and
// lib/kbuild call apt-get, dpkg, tar, patch, make and strip.
import { spawn } from 'node:child_process';

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
}

/** Runs `program` with `args`; resolves with its status and output, rejects only if it cannot start. */
export function runProgram(program: string, args: readonly string[], options: ProgramOptions = {}): Promise<ProgramResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      options.onStderr?.(chunk);
    });
    child.on('error', (error) => reject(new ProgramError(`cannot run ${program}: ${error.message}`)));
    child.on('close', (code) => resolve({ status: code ?? 1, stdout, stderr }));
  });
}
