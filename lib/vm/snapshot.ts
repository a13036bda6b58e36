// Warm starts (the `snapshot` option): the guest is booted once, its modules loaded, and its whole state
// saved by QEMU at the point where the init waits for its run; later runs with the same boot inputs
// restore that state instead of booting (about 1 s instead of 10 under TCG). QEMU cannot migrate a
// mounted 9p share, so the init mounts the host root only after that point, and the run's secrets and
// files reach a restored guest over a virtio-serial control port, never through the saved state:
// the nonce, the directory with the command's files, the host's clock.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { cacheDir, markUsed, pruneCacheFiles } from '../cache';
import { programFile } from '../debian/apt';
import { shellQuote, SNAPSHOT_POINT } from './guest-init';
import { qemuProgram, type QemuOptions } from './qemu';

/** Saved states kept in the cache (each 100-200 MB): the most recently used. */
const KEEP_SNAPSHOTS = 4;
/** A monitor or control socket QEMU has not made by then is not coming. */
const CONNECT_TIMEOUT_MS = 30_000;
/** Saving or loading a state larger than the guest's memory does not take longer than this. */
const MIGRATION_TIMEOUT_MS = 120_000;

/**
 * The cached state file for these boot inputs (QEMU's program, its arguments with the run's own
 * directory left out, the kernel and the initramfs), and whether it exists.
 */
export function snapshotFile(qemuArgs: readonly string[], runDir: string, kernel: string, initrd: Buffer): { file: string; exists: boolean } {
  const stamp = (file: string): string => { const stat = fs.statSync(file); return `${file}:${stat.size}:${stat.mtimeMs}`; };
  const key = crypto.createHash('sha256')
    .update([stamp(fs.realpathSync(programFile(qemuProgram()) ?? qemuProgram())), stamp(kernel), ...qemuArgs.map((arg) => arg.split(runDir).join('RUN'))].join('\n'))
    .update(initrd)
    .digest('hex').slice(0, 16);
  const file = path.join(cacheDir('snapshots'), `${key}.state`);
  return { file, exists: fs.existsSync(file) };
}

/** Marks a state as just used and drops all but the most recently used ones. */
function touchAndPrune(file: string): void {
  markUsed(file);
  pruneCacheFiles(path.dirname(file), '.state', KEEP_SNAPSHOTS);
}

/** Connects to a UNIX socket QEMU serves, retrying until QEMU has made it. */
async function connect(socketPath: string, signal: AbortSignal): Promise<net.Socket> {
  const deadline = Date.now() + CONNECT_TIMEOUT_MS;
  for (;;) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const socket = net.connect(socketPath);
        socket.once('connect', () => { socket.removeAllListeners('error'); resolve(socket); });
        socket.once('error', reject);
      });
    } catch (error) {
      if (signal.aborted) throw new Error('stopped');
      if (Date.now() > deadline) throw new Error(`QEMU's socket ${socketPath}: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** QEMU's human monitor over its socket: one command at a time, each answered up to the next prompt. */
class Monitor {
  private text = '';
  private waiter: (() => void) | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8').on('data', (chunk: string) => { this.text += chunk; this.waiter?.(); });
    socket.on('error', () => undefined);
    socket.on('close', () => { this.closed = true; this.waiter?.(); });
  }

  closed = false;

  static async open(socketPath: string, signal: AbortSignal): Promise<Monitor> {
    const monitor = new Monitor(await connect(socketPath, signal));
    await monitor.reply();  // the banner
    return monitor;
  }

  /** Waits for the prompt; returns what came before it. */
  private async reply(): Promise<string> {
    while (!this.text.includes('(qemu) ')) {
      if (this.closed) throw new Error('QEMU closed its monitor');
      await new Promise<void>((resolve) => { this.waiter = resolve; });
    }
    const [answer] = this.text.split('(qemu) ', 1);
    this.text = this.text.slice(answer!.length + '(qemu) '.length);
    return answer!;
  }

  async command(line: string): Promise<string> {
    this.socket.write(`${line}\n`);
    return this.reply();
  }

  /** Asks `line` every 50 ms until `done` matches its answer. */
  async until(line: string, done: RegExp, failed: RegExp, what: string): Promise<void> {
    const deadline = Date.now() + MIGRATION_TIMEOUT_MS;
    for (;;) {
      const answer = await this.command(line);
      if (done.test(answer)) return;
      if (failed.test(answer)) throw new Error(`${what} failed: ${answer.trim().split('\n').pop()}`);
      if (Date.now() > deadline) throw new Error(`${what} took more than ${MIGRATION_TIMEOUT_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A warm start's QEMU side (its monitor, the control port, the state restored if any) and the run. */
export interface WarmStart extends NonNullable<QemuOptions['warm']> {
  /** Where the state is saved at the snapshot point when none is restored. */
  file: string;
  /** The line the init reads from the control port: the nonce, the host's clock, the run's files. */
  runLine: () => string;
}

/**
 * Drives a warm start beside bootQemu: saves the state at the snapshot point (a fresh boot) or resumes
 * the restored one, then hands the guest its run. `consoleHas` resolves once the console shows a text.
 * A state that could not be saved is reported to `onSaveFailed` and the run goes on without it; a
 * state that could not be restored rejects (the caller boots afresh).
 */
export async function driveWarmStart(warm: WarmStart, consoleHas: (text: string) => Promise<void>, signal: AbortSignal, onSaveFailed: (why: string) => void): Promise<void> {
  // Connected from the start and left open until QEMU ends: a guest reading its port while the host
  // side is not connected gets end-of-file at once (virtio_console), not a wait for the line.
  const control = await connect(warm.controlSocket, signal);
  control.on('error', () => undefined);
  const monitor = await Monitor.open(warm.monitorSocket, signal);
  try {
    if (warm.restoreFrom) {
      // A state saved while stopped is loaded stopped: the guest goes on at `cont`.
      await monitor.until('info status', /VM status: paused\r?\n/, /VM status: (?!paused)|\(postmigrate\)/, 'restoring the saved state');
      await monitor.command('cont');
      touchAndPrune(warm.restoreFrom);
    } else {
      await consoleHas(SNAPSHOT_POINT);
      await saveState(monitor, warm.file).catch((error: Error) => onSaveFailed(error.message));
    }
  } finally {
    monitor.close();
  }
  control.write(`${warm.runLine()}\n`);
}

/** Stops the guest, has QEMU write its state into `file` (through a partial file), and lets it go on. */
async function saveState(monitor: Monitor, file: string): Promise<void> {
  const partial = `${file}.${process.pid}.tmp`;
  await monitor.command('stop');
  try {
    await monitor.command(`migrate "exec:cat > ${shellQuote(partial)}"`);
    await monitor.until('info migrate', /Migration status: completed/, /Migration status: (failed|cancelled)/, 'saving the guest state');
    fs.renameSync(partial, file);
    touchAndPrune(file);
  } finally {
    fs.rmSync(partial, { force: true });
    await monitor.command('cont');
  }
}
