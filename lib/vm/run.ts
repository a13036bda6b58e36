// runInVm: boot a kernel in QEMU, run one command inside, stream its output, and come back with its
// exit status — or with a distinct status for each way the run itself can fail (errors.ts).
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { VmError, vmExitStatus, type VmFailure } from './errors';
import { commandScript, markers } from './guest-init';
import { ensureHostTools } from './host-tools';
import { baseInitramfs, runArchive } from './initramfs';
import { resolveKernel, withKvmModules, type KernelImage } from './kernel';
import { QEMU, qemuArgs, resolveAccel, type Accel } from './qemu';

export interface VmOptions {
  /** debian (default), debian:VERSION, a bzImage, or a built kernel tree. */
  kernel?: string;
  /** A directory with kvm.ko / kvm-amd.ko / kvm-intel.ko to load instead of the kernel's own. */
  kvmModules?: string;
  accel?: Accel;
  smp?: number;
  memMb?: number;
  /** The whole run, boot included (default 30 minutes). */
  timeoutMs?: number;
  /** Extra kernel command-line arguments. */
  append?: string;
  /** Show the guest kernel's console on stderr. */
  verbose?: boolean;
}

export interface RunRequest extends VmOptions {
  command: readonly string[];
  /** The command's working directory in the guest (default: ours; the host root is visible). */
  cwd?: string;
  /** Extra environment variables for the command. */
  env?: Readonly<Record<string, string>>;
  /** Where the command's output goes (default: our stdout). */
  output?: { write(chunk: Buffer | string): unknown };
}

export type VmOutcome = 'exited' | VmFailure;

export interface VmResult {
  /** The command's exit status, or the runner's status for a failure (errors.ts). */
  status: number;
  outcome: VmOutcome;
  /** For a failure: what happened, in one line. */
  message: string;
  /** The kernel that ran. */
  kernel: string;
  /** Console lines around a panic or oops, for the report. */
  consoleTail: string[];
  durationMs: number;
}

const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;
/** A guest that has not started the command by then never will (TCG boots in about 5 s here). */
const BOOT_TIMEOUT_MS = 180 * 1000;
const CONSOLE_KEEP = 256 * 1024;

/** Multi-threaded TCG running stale bytes while the guest patches its text (vm-on-this-machine.md). */
const INT3_OOPS = /Oops: int3/;
const PANIC = /Kernel panic - not syncing|Oops: |BUG: |general protection fault/;

function guestEnvironment(extra: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/tmp',
    TERM: 'dumb',
    KVM_XEN_IN_VM: '1',
  };
  return { ...env, ...extra };
}

interface BootPlan {
  kernel: KernelImage;
  baseInitrd: string;
  accel: 'kvm' | 'tcg';
}

async function plan(request: RunRequest): Promise<BootPlan> {
  await ensureHostTools();
  let kernel = await resolveKernel(request.kernel ?? 'debian');
  if (request.kvmModules) kernel = withKvmModules(kernel, request.kvmModules);
  return { kernel, baseInitrd: baseInitramfs(kernel), accel: resolveAccel(request.accel ?? 'auto') };
}

export async function runInVm(request: RunRequest): Promise<VmResult> {
  const started = Date.now();
  let bootPlan: BootPlan;
  try {
    bootPlan = await plan(request);
  } catch (error) {
    if (error instanceof VmError) return failure(error.failure, error.message, '', [], started);
    throw error;
  }
  const first = await bootOnce(request, bootPlan, started);
  if (first.outcome !== 'flake') return first;
  process.stderr.write(`kvm-xen vm: ${first.message}; retrying once in a fresh VM (the output above belongs to the failed attempt)\n`);
  const second = await bootOnce(request, bootPlan, started);
  return second.outcome === 'flake' ? { ...second, message: `${second.message} (again after a retry)` } : second;
}

function failure(outcome: VmFailure, message: string, kernel: string, consoleTail: string[], started: number): VmResult {
  return { status: vmExitStatus[outcome], outcome, message, kernel, consoleTail, durationMs: Date.now() - started };
}

function bootOnce(request: RunRequest, bootPlan: BootPlan, started: number): Promise<VmResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-vm-'));
  const nonce = crypto.randomBytes(8).toString('hex');
  const script = commandScript({ argv: request.command, cwd: request.cwd ?? process.cwd(), env: guestEnvironment(request.env ?? {}) });
  const initrd = path.join(dir, 'initrd');
  fs.writeFileSync(initrd, Buffer.concat([fs.readFileSync(bootPlan.baseInitrd), runArchive(nonce, script)]));
  const fifo = path.join(dir, 'output');
  const made = spawnSync('mkfifo', [fifo]);
  if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr?.toString() ?? made.error?.message}`);

  const append = ['console=ttyS0', 'quiet', 'panic=-1', 'oops=panic', request.append ?? ''].join(' ').trim();
  const args = qemuArgs({
    bzImage: bootPlan.kernel.bzImage, initrd, append, outputFifo: fifo, accel: bootPlan.accel,
    smp: request.smp ?? 2, memMb: request.memMb ?? 2048,
  });
  const output = request.output ?? process.stdout;
  const kernel = bootPlan.kernel.description;

  return new Promise<VmResult>((resolve) => {
    const qemu = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let consoleText = '';
    let qemuErrors = '';
    let startedCommand = false;
    let exitStatus: number | undefined;
    let killedFor: 'timeout' | 'noStart' | 'interrupted' | undefined;
    let outputDone = false;
    let qemuDone = false;

    const exitMarker = new RegExp(`${nonce} ${markers.exit} (\\d+)`);
    const startMarker = `${nonce} ${markers.start}`;

    const kill = (why: typeof killedFor): void => {
      if (!killedFor) killedFor = why;
      qemu.kill('SIGKILL');
    };
    const overall = setTimeout(() => kill('timeout'), request.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const boot = setTimeout(() => { if (!startedCommand) kill('noStart'); }, BOOT_TIMEOUT_MS);
    const onSignal = (): void => kill('interrupted');
    const onExit = (): void => { qemu.kill('SIGKILL'); };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('exit', onExit);

    qemu.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (request.verbose) process.stderr.write(chunk);
      consoleText = (consoleText + chunk).slice(-CONSOLE_KEEP);
      if (!startedCommand && consoleText.includes(startMarker)) startedCommand = true;
      const exit = exitMarker.exec(consoleText);
      if (exit) exitStatus = Number(exit[1]);
    });
    qemu.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      qemuErrors += chunk.split('\n').filter((line) => line && !line.includes("TCG doesn't support requested feature")).map((l) => `${l}\n`).join('');
    });

    // The FIFO opens once QEMU opens its end; EOF comes when QEMU exits.
    const stream = fs.createReadStream(fifo);
    stream.on('data', (chunk) => output.write(chunk));
    const outputEnded = (): void => { outputDone = true; finish(); };
    stream.on('end', outputEnded);
    stream.on('error', outputEnded);

    qemu.on('error', (error) => {
      qemuErrors += `${error.message}\n`;
      qemuDone = true;
      stream.destroy();
      outputEnded();
    });
    qemu.on('close', () => {
      qemuDone = true;
      // If QEMU died before opening the FIFO, nothing will; unblock the reader.
      if (!outputDone) fs.open(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK, (error, fd) => { if (!error) fs.closeSync(fd); });
      finish();
    });

    let finished = false;
    function finish(): void {
      if (finished || !qemuDone || !outputDone) return;
      finished = true;
      clearTimeout(overall);
      clearTimeout(boot);
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      process.removeListener('exit', onExit);
      fs.rmSync(dir, { recursive: true, force: true });
      resolve(classify());
    }

    function tail(): string[] {
      const lines = consoleText.split('\n');
      const at = lines.findIndex((line) => PANIC.test(line));
      return (at >= 0 ? lines.slice(Math.max(0, at - 2), at + 40) : lines.slice(-20)).map((line) => line.replace(/\r$/, ''));
    }

    function classify(): VmResult {
      const done = (outcome: VmFailure, message: string): VmResult => failure(outcome, message, kernel, tail(), started);
      if (killedFor === 'interrupted') return { ...done('timeout', 'interrupted'), status: 130 };
      if (killedFor === 'timeout') return done('timeout', `the run passed its time limit of ${(request.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000} s; QEMU was killed`);
      if (exitStatus !== undefined) {
        return { status: exitStatus, outcome: 'exited', message: '', kernel, consoleTail: [], durationMs: Date.now() - started };
      }
      if (INT3_OOPS.test(consoleText)) return done('flake', 'the guest kernel hit "Oops: int3", a known multi-threaded TCG flake, not a test result');
      const panic = consoleText.split('\n').find((line) => PANIC.test(line))?.trim();
      if (panic && startedCommand) return done('guestPanic', `the guest kernel crashed while the command ran: ${panic}`);
      if (killedFor === 'noStart') return done('noStart', `the guest did not start the command within ${BOOT_TIMEOUT_MS / 1000} s`);
      if (!startedCommand) {
        const why = panic ?? qemuErrors.trim().split('\n').pop() ?? consoleText.trim().split('\n').pop() ?? 'no output';
        return done('noStart', `the guest never started the command: ${why}`);
      }
      return done('guestPanic', 'the guest stopped before the command finished, without reporting its status');
    }
  });
}
