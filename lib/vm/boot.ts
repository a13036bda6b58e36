// One QEMU run, watched: the console (kernel messages, the init's start line) on QEMU's stdout, the
// command's stdout and stderr from their FIFOs through the end-marker filter, the time limits, and our
// own signals. QEMU is always stopped and waited for before this returns; what was seen goes to
// classify.ts.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

import { EndMarkedStream } from './end-marker';
import { onPath } from '../debian/apt';
import { qemuProgram } from './qemu';

export interface Sink {
  write(chunk: Buffer | string): unknown;
  /** A stream's 'error' (EPIPE when its reader went away) stops the run: nobody reads the output. */
  on?(event: 'error', listener: (error: Error) => void): unknown;
  removeListener?(event: 'error', listener: (error: Error) => void): unknown;
}

export interface BootSpec {
  qemuArgs: readonly string[];
  stdoutFifo: string;
  stderrFifo: string;
  /** The console line that says the init is starting the command. */
  startLine: string;
  endMarker: Buffer;
  stdout: Sink;
  stderr: Sink;
  timeoutMs: number;
  /** Without the start line by then, the guest is taken as stuck in its boot. */
  bootTimeoutMs: number;
  /** Called with the console's text as it comes. */
  onConsole?: (text: string) => void;
  /** Stops QEMU as our own SIGINT would. */
  signal?: AbortSignal;
  /**
   * Runs beside the guest once QEMU is started (a warm start's save or restore, snapshot.ts), with a
   * way to wait for a text on the console and a signal that QEMU has ended. If it fails QEMU is stopped.
   */
  alongside?: (consoleHas: (text: string) => Promise<void>, ended: AbortSignal) => Promise<void>;
}

export type StopReason = 'timeout' | 'bootTimeout' | 'interrupted' | 'outputClosed' | 'alongsideFailed';

export interface BootObservation {
  /** The command's exit status, from the end marker on its stdout port. */
  exitStatus: number | undefined;
  startedCommand: boolean;
  /** The console's last 256 KiB. */
  console: string;
  /** QEMU's own error messages. */
  qemuErrors: string;
  /** How QEMU ended: "exit status 1", "signal SIGKILL". */
  qemuEnd: string;
  /** Why we stopped QEMU, if we did before the command ended. */
  stoppedFor: StopReason | undefined;
  /** How spec.alongside failed, if it did. */
  alongsideError: string | undefined;
  durationMs: number;
}

const CONSOLE_KEEP = 256 * 1024;
/** After the command's stdout ended, how long its stderr may take to end too. */
const STDERR_GRACE_MS = 2000;
/** QEMU's warnings about features TCG cannot emulate for the EPYC model: harmless, always there. */
const HARMLESS_QEMU_WARNING = /TCG doesn't support requested feature/;

/**
 * The command line that runs `argv` with SIGKILL as its parent-death signal (setpriv, util-linux), so
 * that QEMU dies with us however we die, SIGKILL included, when our exit handlers cannot run. The
 * signal fires when the *thread* that forked it ends: Node spawns from its main thread, which lives as
 * long as the process. Without setpriv (not Debian), QEMU is only stopped by our handlers.
 */
function tiedToUs(argv: readonly string[]): string[] {
  return onPath('setpriv') ? ['setpriv', '--pdeathsig', 'KILL', '--', ...argv] : [...argv];
}

export function bootQemu(spec: BootSpec): Promise<BootObservation> {
  const started = Date.now();
  return new Promise((resolve) => {
    const [program, ...args] = tiedToUs([qemuProgram(), ...spec.qemuArgs]);
    const qemu = spawn(program!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let consoleText = '';
    let qemuStderr = '';
    let spawnError = '';
    let startedCommand = false;
    let stoppedFor: StopReason | undefined;
    let qemuDone = false;

    const stop = (why: StopReason | undefined): void => {
      if (why && !stoppedFor && stdout.ending === undefined) stoppedFor = why;
      qemu.kill('SIGKILL');
    };
    const overall = setTimeout(() => stop('timeout'), spec.timeoutMs);
    const boot = setTimeout(() => { if (!startedCommand) stop('bootTimeout'); }, spec.bootTimeoutMs);
    let grace: NodeJS.Timeout | undefined;
    const onSignal = (): void => stop('interrupted');
    const onExit = (): void => { qemu.kill('SIGKILL'); };
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    for (const signal of signals) process.on(signal, onSignal);
    process.on('exit', onExit);
    const onSinkError = (): void => stop('outputClosed');
    const sinks = [spec.stdout, spec.stderr];
    for (const sink of sinks) sink.on?.('error', onSinkError);

    const consoleWaiters = new Set<{ text: string; resolve: () => void; reject: (error: Error) => void }>();
    const consoleHas = (text: string): Promise<void> => new Promise((resolve, reject) => {
      if (consoleText.includes(text)) resolve();
      else if (qemuDone) reject(new Error('QEMU ended'));
      else consoleWaiters.add({ text, resolve, reject });
    });
    const ended = new AbortController();
    let alongsideError: string | undefined;
    spec.alongside?.(consoleHas, ended.signal).catch((error: Error) => {
      if (ended.signal.aborted) return;
      alongsideError = error.message;
      stop('alongsideFailed');
    });

    qemu.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      spec.onConsole?.(chunk);
      consoleText = (consoleText + chunk).slice(-CONSOLE_KEEP);
      for (const waiter of consoleWaiters) {
        if (!consoleText.includes(waiter.text)) continue;
        consoleWaiters.delete(waiter);
        waiter.resolve();
      }
      if (!startedCommand && consoleText.includes(spec.startLine)) {
        startedCommand = true;
        clearTimeout(boot);
      }
    });
    // Kept whole and filtered at the end: a message can arrive split over two chunks.
    qemu.stderr.setEncoding('utf8').on('data', (chunk: string) => { qemuStderr = (qemuStderr + chunk).slice(-CONSOLE_KEEP); });

    // Once both ports have ended, the guest has nothing more to say: stop it rather than wait for its
    // poweroff.
    const onEnding = (): void => {
      if (stdout.ending === undefined) return;
      if (stderr.ending !== undefined) stop(undefined);
      else grace ??= setTimeout(() => stop(undefined), STDERR_GRACE_MS);
    };
    const stdout = new EndMarkedStream(spec.endMarker, (bytes) => spec.stdout.write(bytes));
    const stderr = new EndMarkedStream(spec.endMarker, (bytes) => spec.stderr.write(bytes));
    const channels = [
      readFifo(spec.stdoutFifo, stdout, onEnding, () => finish()),
      readFifo(spec.stderrFifo, stderr, onEnding, () => finish()),
    ];
    spec.signal?.addEventListener('abort', onSignal);
    if (spec.signal?.aborted) onSignal();

    qemu.on('error', (error) => { spawnError = `cannot run ${qemuProgram()}: ${error.message}\n`; });
    let qemuEnd = '';
    qemu.on('close', (code, signal) => {
      qemuDone = true;
      ended.abort();
      for (const waiter of consoleWaiters) waiter.reject(new Error('QEMU ended'));
      consoleWaiters.clear();
      qemuEnd = signal ? `signal ${signal}` : `exit status ${code}`;
      // A FIFO QEMU never opened (it failed early) would keep our reader waiting: open it ourselves.
      for (const channel of channels) channel.unblock();
      finish();
    });

    let finished = false;
    function finish(): void {
      if (finished || !qemuDone || channels.some((channel) => !channel.closed)) return;
      finished = true;
      for (const timer of [overall, boot, grace]) clearTimeout(timer);
      for (const signal of signals) process.removeListener(signal, onSignal);
      process.removeListener('exit', onExit);
      spec.signal?.removeEventListener('abort', onSignal);
      // A stream destroyed by its error emits no more: nothing is left to catch after this.
      for (const sink of sinks) sink.removeListener?.('error', onSinkError);
      const status = stdout.ending;
      resolve({
        exitStatus: status !== undefined && /^\d+$/.test(status) ? Number(status) : undefined,
        startedCommand,
        console: consoleText,
        qemuErrors: spawnError + qemuStderr.split('\n').filter((line) => line.trim() && !HARMLESS_QEMU_WARNING.test(line)).map((line) => `${line}\n`).join(''),
        qemuEnd,
        stoppedFor,
        alongsideError,
        durationMs: Date.now() - started,
      });
    }
  });
}

interface FifoChannel {
  readonly closed: boolean;
  unblock(): void;
}

/** Reads a FIFO into the end-marker filter until QEMU closes its end. */
function readFifo(fifo: string, stream: EndMarkedStream, onEnding: () => void, onClosed: () => void): FifoChannel {
  let opened = false;
  const channel = { closed: false, unblock };
  const reader = fs.createReadStream(fifo);
  reader.on('open', () => { opened = true; });
  reader.on('data', (chunk) => {
    stream.push(chunk as Buffer);
    if (stream.ending !== undefined) onEnding();
  });
  reader.on('close', () => {
    stream.close();
    channel.closed = true;
    onClosed();
  });
  reader.on('error', () => reader.destroy());
  function unblock(): void {
    if (opened || channel.closed) return;
    fs.open(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK, (error, fd) => {
      if (!error) fs.close(fd, () => undefined);
      else reader.destroy();
    });
  }
  return channel;
}
