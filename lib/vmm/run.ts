// bootCommand: boot a kernel in LinuxMachine with the busybox initramfs, run one command, stream its
// output and come back with its exit status — the contract of lib/vm's runInVm, on /dev/kvm directly.
import crypto from 'node:crypto';
import fs from 'node:fs';

import { KvmError } from '../kvm';
import type { Sink } from '../vm/boot';
import { EndMarkedStream, endMarker } from '../vm/end-marker';
import { VmError, vmExitStatus } from '../vm/errors';
import { commandScript, START_MARKER } from '../vm/guest-init';
import { resolveKernel } from '../vm/kernel';
import type { VmResult } from '../vm/run';
import { BzImageError } from './bzimage';
import { bootInitramfs } from './initramfs';
import { LoadError } from './loader';
import { LinuxMachine, type MachineEnd } from './machine';
import { migrate, type MigrateOptions, type MigrationReport } from './migrate';
import { judgeBoot, type BootObservation } from './outcome';
import { XenUnavailableError, type XenOptions } from './xen/personality';

export interface BootRequest {
  command: readonly string[];
  /** debian (default), debian:VERSION, a bzImage, or a built kernel tree (as for lib/vm). */
  kernel?: string;
  cpus?: number;
  memoryMb?: number;
  /** The whole run, boot included (default 30 minutes). */
  timeoutMs?: number;
  /** Extra kernel command-line arguments. */
  append?: string;
  /** Environment variables for the command (PATH=/bin and HOME=/tmp are set already). */
  env?: Readonly<Record<string, string>>;
  /** Where the command's output goes: its stdout and stderr together, the serial line carries both. */
  output: Sink;
  /** Where the kernel's console goes while it boots (default: kept for the report only). */
  console?: Sink;
  /** Present Xen HVM to the guest (lib/vmm/xen): its timer, IPIs and callback go over event channels. */
  xen?: boolean | XenOptions;
  /** Stops the guest when aborted (the result says interrupted, as for a signal). */
  signal?: AbortSignal;
  /** Bytes for the command's stdin, typed into the console once it runs (default: stdin is /dev/null). */
  input?: AsyncIterable<Uint8Array> | Uint8Array;
  /** Live-migrate the running guest into a fresh VM this long after the command started (lib/vmm/migrate). */
  migrateAfterMs?: number;
  /** How to migrate (pre-copy limits, a hook into the stop-and-copy). */
  migration?: MigrateOptions;
  /** Called once the migration is done (or failed: the guest then runs on in the source). */
  onMigrated?: (outcome: { report: MigrationReport } | { error: Error }) => void;
}

export interface BootResult extends VmResult {
  /** From creating the machine to the command's start (the boot itself), if it started. */
  bootMs: number | undefined;
  /** How the machine ended. */
  end: MachineEnd | undefined;
  /** The migration's measurements, if the guest was migrated. */
  migration?: MigrationReport;
  /** With `xen`: the hypercalls KVM passed up to the VMM and those it refused, "name op" → times. */
  xenHypercalls?: { passedUp: Record<string, number>; refused: Record<string, number> };
}

const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;
/** A guest that has not started the command by then never will (it boots in seconds nested). */
const BOOT_TIMEOUT_MS = 300 * 1000;
/** After the end marker, how long the guest may take to reboot before it is stopped. */
const REBOOT_GRACE_MS = 5000;
const CONSOLE_KEEP = 256 * 1024;

/** console=ttyS0 and what a firmware-less PC without PCI needs; `quiet` unless the console is shown. */
export function bootCmdline(verbose: boolean, append = ''): string {
  return ['console=ttyS0', 'reboot=k', 'panic=-1', 'oops=panic', 'pci=off', '8250.nr_uarts=1', verbose ? '' : 'quiet loglevel=1', append]
    .filter(Boolean).join(' ');
}

function failure(error: VmError, kernel: string, started: number): BootResult {
  return { status: error.status, outcome: error.failure, message: error.message, kernel, consoleTail: [], durationMs: Date.now() - started, attempts: 0, bootMs: undefined, end: undefined };
}

export async function bootCommand(request: BootRequest): Promise<BootResult> {
  const started = Date.now();
  const kernelSpec = request.kernel ?? 'debian';
  if (request.command.length === 0) return failure(new VmError('usage', 'no command to run'), kernelSpec, started);
  const { migrateAfterMs } = request;
  if (migrateAfterMs !== undefined && !(Number.isFinite(migrateAfterMs) && migrateAfterMs >= 0)) {
    return failure(new VmError('usage', `migrateAfterMs must be a number of milliseconds >= 0, got ${migrateAfterMs}`), kernelSpec, started);
  }
  let machine: LinuxMachine;
  let description: string;
  const nonce = crypto.randomBytes(16).toString('hex');
  const watcher = new ConsoleWatcher(nonce, request);
  try {
    const kernel = await resolveKernel(kernelSpec);
    description = kernel.description;
    const script = commandScript({ argv: request.command, cwd: '/', env: { PATH: '/bin', HOME: '/tmp', ...request.env } });
    machine = LinuxMachine.create({
      kernel: fs.readFileSync(kernel.bzImage),
      initrd: bootInitramfs({ nonce, script, consoleStdin: request.input !== undefined }),
      cmdline: bootCmdline(request.console !== undefined, request.append),
      ...(request.cpus === undefined ? {} : { cpus: request.cpus }),
      ...(request.memoryMb === undefined ? {} : { memoryMb: request.memoryMb }),
      onConsole: (bytes) => watcher.push(bytes),
      ...(request.xen ? { xen: request.xen } : {}),
    });
  } catch (error) {
    if (error instanceof VmError) return failure(error, kernelSpec, started);
    if (error instanceof BzImageError || error instanceof LoadError) return failure(new VmError('badKernel', error.message), kernelSpec, started);
    if (error instanceof XenUnavailableError) return failure(new VmError('missingTool', error.message), kernelSpec, started);
    if (error instanceof RangeError) return failure(new VmError('usage', error.message), kernelSpec, started);
    if (error instanceof KvmError) return failure(new VmError(error.syscall === 'open' ? 'missingTool' : 'guestPanic', `KVM: ${error.message}`), kernelSpec, started);
    throw error;
  }

  try {
    const limits = { timeoutMs: request.timeoutMs ?? DEFAULT_TIMEOUT_MS, bootTimeoutMs: BOOT_TIMEOUT_MS };
    let stoppedFor: BootObservation['stoppedFor'];
    const stop = (why: NonNullable<BootObservation['stoppedFor']> | undefined): void => {
      if (why && stoppedFor === undefined && watcher.exitStatus === undefined) stoppedFor = why;
      machine.stop();
    };
    const timers = [
      setTimeout(() => stop('timeout'), limits.timeoutMs),
      setTimeout(() => { if (!watcher.started) stop('bootTimeout'); }, limits.bootTimeoutMs),
    ];
    let migration: MigrationReport | undefined;
    watcher.onStart = () => {
      if (request.input !== undefined) void feed(() => machine, request.input);
      if (migrateAfterMs === undefined) return;
      timers.push(setTimeout(() => {
        if (machine.ended) return;
        migrate(machine, request.migration).then((done) => {
          machine = done.machine;
          migration = done.report;
          request.onMigrated?.({ report: done.report });
        }, (error: unknown) => request.onMigrated?.({ error: error as Error }));
      }, migrateAfterMs));
    };
    watcher.onEnd = () => timers.push(setTimeout(() => stop(undefined), REBOOT_GRACE_MS));
    const onSignal = (): void => stop('interrupted');
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    for (const signal of signals) process.on(signal, onSignal);
    request.signal?.addEventListener('abort', onSignal);
    if (request.signal?.aborted) onSignal();
    let end: MachineEnd;
    try {
      end = await machine.start();
      // The guest moved on: the run goes on with the machine it moved to.
      while (end.reason === 'migrated') {
        machine = end.to;
        end = await machine.start();
      }
    } finally {
      for (const timer of timers) clearTimeout(timer);
      for (const signal of signals) process.removeListener(signal, onSignal);
      request.signal?.removeEventListener('abort', onSignal);
    }
    watcher.close();
    const verdict = judgeBoot({ exitStatus: watcher.exitStatus, startedCommand: watcher.started, console: watcher.consoleText, end, stoppedFor }, limits);
    return {
      status: verdict.outcome === 'exited' ? watcher.exitStatus! : vmExitStatus[verdict.outcome],
      ...verdict,
      kernel: description,
      durationMs: Date.now() - started,
      attempts: 1,
      bootMs: watcher.startedAt === undefined ? undefined : watcher.startedAt - started,
      end,
      ...(migration === undefined ? {} : { migration }),
      ...(machine.xen === undefined ? {} : {
        xenHypercalls: { passedUp: Object.fromEntries(machine.xen.calls), refused: Object.fromEntries(machine.xen.refused) },
      }),
    };
  } finally {
    machine.close();
  }
}

/**
 * Types the input into the console until it ends or the machine does. The end of the input is not an
 * end of file for the command: the console is a raw tty, where no byte means that.
 */
async function feed(machine: () => LinuxMachine, input: AsyncIterable<Uint8Array> | Uint8Array): Promise<void> {
  if (input instanceof Uint8Array) {
    machine().console.receive(input);
    return;
  }
  try {
    for await (const chunk of input) {
      if (machine().ended) return;
      machine().console.receive(chunk);
    }
  } catch {
    // The input failed (or was destroyed once the run ended): the command simply gets no more of it.
  }
}

/**
 * Splits the console: the kernel's messages until the init's start line, then the command's output up
 * to the end marker (lib/vm's EndMarkedStream), then whatever the reboot prints.
 */
class ConsoleWatcher {
  consoleText = '';
  started = false;
  startedAt: number | undefined;
  onStart: () => void = () => undefined;
  onEnd: () => void = () => undefined;
  private readonly startLine: Buffer;
  private readonly command: EndMarkedStream;
  private pending = Buffer.alloc(0);

  constructor(nonce: string, private readonly request: BootRequest) {
    this.startLine = Buffer.from(`${nonce} ${START_MARKER}\n`, 'latin1');
    this.command = new EndMarkedStream(endMarker(nonce), (bytes) => request.output.write(bytes));
  }

  get exitStatus(): number | undefined {
    const ending = this.command.ending;
    return ending !== undefined && /^\d+$/.test(ending) ? Number(ending) : undefined;
  }

  push(bytes: Uint8Array): void {
    if (this.started) {
      const ended = this.command.ending !== undefined;
      this.command.push(Buffer.from(bytes));
      if (!ended && this.command.ending !== undefined) this.onEnd();
      if (ended) this.keep(bytes);
      return;
    }
    this.request.console?.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.pending = Buffer.concat([this.pending, bytes]);
    const at = this.pending.indexOf(this.startLine);
    if (at < 0) {
      this.keep(this.pending.subarray(0, Math.max(0, this.pending.length - this.startLine.length)));
      this.pending = this.pending.subarray(Math.max(0, this.pending.length - this.startLine.length));
      return;
    }
    this.keep(this.pending.subarray(0, at));
    const rest = this.pending.subarray(at + this.startLine.length);
    this.pending = Buffer.alloc(0);
    this.started = true;
    this.startedAt = Date.now();
    this.onStart();
    if (rest.length > 0) this.push(rest);
  }

  close(): void {
    if (!this.started) this.keep(this.pending);
    this.command.close();
  }

  private keep(bytes: Uint8Array): void {
    this.consoleText = (this.consoleText + Buffer.from(bytes).toString('latin1')).slice(-CONSOLE_KEEP);
  }
}
