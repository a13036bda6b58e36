// A guest that stays up and takes commands from the host, one after another, in one boot: what a
// kernel developer's edit-build-test loop needs (lib/watch), where runInVm boots once per command.
//
// It is one runInVm run whose command is a small shell loop, the agent. The host hands it commands
// as numbered script files in a session directory, which the guest sees through the host root it
// already mounts over 9p (read-only is enough: only the host writes there); the agent polls for the
// next number. Each command's stdout comes back on the run's own stdout port, closed by a marker with
// the session's nonce, the command's number and its status (end-marker.ts); the agent's greeting is
// command 0, whose "status" is the guest's boot id. QEMU's lifetime stays runInVm's: killed with us
// (setpriv --pdeathsig), on our SIGINT/SIGTERM, on close() and on abort.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { cacheDir } from '../cache';
import type { Sink } from './boot';
import { kernelProblemsIn } from './classify';
import { endMarker, EndMarkedStream } from './end-marker';
import { VmError } from './errors';
import { commandScript } from './guest-init';
import { kvmModuleFiles } from './kernel';
import { reloadScript, stagedModuleFile } from './kvm-reload';
import { makeRunDir, removeStaleRunDirs } from './run-dir';
import { runInVm, type VmOptions, type VmResult } from './run';
import { modinfoEntries, readModule } from './modinfo';
import { reloadArguments, type GuestModule } from './module-params';

export interface SessionOptions extends VmOptions {
  /** The commands' default working directory (default: ours). */
  cwd?: string;
  /** Where the commands' stderr goes, all of it (default: nowhere). */
  errorOutput?: Sink;
}

export interface CommandResult {
  status: number;
  /** The command's stdout. */
  output: string;
  /** What the guest kernel reported while it ran: WARN, BUG, oops, lockdep, KASAN (classify.ts). */
  kernelProblems: string[];
  durationMs: number;
}

/** The session's VM is gone (crashed, stopped, timed out) or stopped answering; `result` says how it ended. */
export class SessionEnded extends Error {
  constructor(message: string, readonly result: VmResult | undefined) {
    super(message);
    this.name = 'SessionEnded';
  }
}

/** How long the agent waits between looks for the next command (a stat over 9p each time). */
const POLL_SECONDS = '0.1';
/** How long a stopped agent may take to power the guest off before QEMU is killed. */
const STOP_GRACE_MS = 30_000;
/** The session has no time limit of its own unless asked: each command has one (run's timeoutMs). */
const SESSION_TIMEOUT_MS = 2 ** 31 - 1;
const CONSOLE_KEEP = 256 * 1024;

/**
 * The agent: $1 the session directory, $2 the nonce. Says the boot id, then runs N.sh for N = 1, 2, ...
 * as each appears, until the file "stop" does.
 */
const AGENT = `dir=$1 nonce=$2
printf '%s:%s\\n' "$nonce-0" "$(cat /proc/sys/kernel/random/boot_id)"
n=1
until [ -e "$dir/stop" ]; do
  if [ -e "$dir/$n.sh" ]; then
    sh "$dir/$n.sh" < /dev/null
    printf '%s:%d\\n' "$nonce-$n" $?
    n=$((n + 1))
  else
    sleep ${POLL_SECONDS}
  fi
done`;

interface Pending {
  stream: EndMarkedStream;
  resolve: (ending: string) => void;
  reject: (error: Error) => void;
}

export class GuestSession {
  /** The guest kernel's boot id (/proc/sys/kernel/random/boot_id): the same for every command of the session. */
  bootId = '';
  readonly ended: Promise<VmResult>;
  private readonly abort = new AbortController();
  private pending: Pending | undefined;
  private next = 0;
  private result: VmResult | undefined;
  /** The console since the running command started (kept to its last CONSOLE_KEEP characters). */
  private console = '';

  private constructor(readonly dir: string, private readonly nonce: string, private readonly options: SessionOptions) {
    // The agent's lines carry "KVMXEN-END-<nonce>-N:" markers; endMarker() writes that prefix.
    const agentNonce = endMarker(nonce).toString('latin1').slice(0, -1);
    const output: Sink = { write: (chunk) => this.received(Buffer.from(chunk)) };
    this.ended = runInVm({
      ...options,
      // Not tried yet with a session's agent and module swaps: a session boots once anyway.
      snapshot: false,
      timeoutMs: options.timeoutMs ?? SESSION_TIMEOUT_MS,
      command: ['sh', '-c', AGENT, 'kvm-xen-agent', dir, agentNonce],
      cwd: options.cwd ?? process.cwd(),
      output,
      onConsole: (text) => { this.console = (this.console + text).slice(-CONSOLE_KEEP); },
      ...(options.errorOutput ? { errorOutput: options.errorOutput } : {}),
      retryOnFlake: false,
      signal: this.abort.signal,
    }).then((result) => {
      this.result = result;
      this.pending?.reject(new SessionEnded(`the guest session ended: ${describe(result)}`, result));
      this.pending = undefined;
      return result;
    }, (error: Error) => {
      this.pending?.reject(error);
      this.pending = undefined;
      throw error;
    }).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
    this.ended.catch(() => undefined);  // told to the command waiting, if any; close() rethrows it
  }

  /** Boots the guest and waits for its agent; a TCG flake before that is retried once in a fresh VM. */
  static async start(options: SessionOptions): Promise<GuestSession> {
    for (let attempt = 1; ; attempt++) {
      const parent = cacheDir('sessions');
      removeStaleRunDirs(parent);
      // Under a cache in /tmp too: the runner keeps the cache's directory visible over the guest's scratch /tmp.
      const dir = makeRunDir(parent);
      const session = new GuestSession(dir, crypto.randomBytes(16).toString('hex'), options);
      try {
        session.bootId = await session.expect(0);
        return session;
      } catch (error) {
        const result = error instanceof SessionEnded ? error.result : undefined;
        if (attempt >= 2 || result?.outcome !== 'flake') throw error;
        options.onProgress?.({ kind: 'retry', reason: result.message });
      }
    }
  }

  /**
   * Runs `argv` in the guest (without a shell in between) and resolves with its status and stdout. A
   * command still running after `timeoutMs` stops the session: a guest that does not answer cannot be
   * trusted with the next command.
   */
  async run(argv: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    return this.runScript(commandScript({ argv, cwd: path.resolve(options.cwd ?? this.options.cwd ?? process.cwd()), env: {} }), options.timeoutMs);
  }

  /**
   * Replaces the guest's KVM modules with those of `dir` (kvm.ko and kvm-amd.ko or kvm-intel.ko, as
   * --kvm-modules takes them): stops the keeper's idle VM, unloads the old modules, loads the new ones
   * with the session's kvmParams for them (as at boot), and starts the keeper again. Resolves with the
   * reload's status (0: loaded) and messages; 64 when the new modules no longer declare one of those
   * parameters (or not with that type), in which case nothing in the guest was touched.
   */
  async reloadKvmModules(dir: string, timeoutMs = 120_000): Promise<CommandResult> {
    const modules = kvmModuleFiles(dir);
    this.options.onProgress?.({ kind: 'kvmModules', modules });
    // Copied into the session directory: the guest sees it wherever the modules were built (a cache
    // under /tmp, say), and a build that starts meanwhile cannot change what is being loaded.
    const target = path.join(this.dir, `modules-${this.next + 1}`);
    fs.mkdirSync(target);
    const loaded: GuestModule[] = [];
    for (const { name, file } of modules) {
      const elf = readModule(file);
      fs.writeFileSync(path.join(target, stagedModuleFile(name)), elf);
      loaded.push({ name, info: modinfoEntries(elf, file) });
    }
    let moduleArgs: Map<string, string[]>;
    try {
      moduleArgs = reloadArguments(this.options.kvmParams ?? [], loaded);
    } catch (error) {
      if (!(error instanceof VmError)) throw error;
      fs.rmSync(target, { recursive: true, force: true });
      return { status: error.status, output: `${error.message}\n`, kernelProblems: [], durationMs: 0 };
    }
    return this.runScript(reloadScript(target, moduleArgs), timeoutMs);
  }

  /** Asks the agent to stop and waits for the VM to end; a guest that does not stop in time is killed. */
  async close(): Promise<VmResult> {
    if (this.result) return this.result;
    try {
      fs.writeFileSync(path.join(this.dir, 'stop'), '');
    } catch {
      this.kill();  // the directory is gone: the session is ending anyway
    }
    const timer = setTimeout(() => this.kill(), STOP_GRACE_MS);
    try {
      return await this.ended;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops QEMU at once. */
  kill(): void {
    this.abort.abort();
  }

  private async runScript(script: string, timeoutMs = 30 * 60 * 1000): Promise<CommandResult> {
    if (this.result) throw new SessionEnded(`the guest session has ended: ${describe(this.result)}`, this.result);
    if (this.pending) throw new Error('a session runs one command at a time');
    const number = ++this.next;
    const started = Date.now();
    const output: Buffer[] = [];
    this.console = '';
    const ending = this.expect(number, (chunk) => output.push(chunk));
    const file = path.join(this.dir, `${number}.sh`);
    fs.writeFileSync(`${file}.tmp`, script);
    fs.renameSync(`${file}.tmp`, file);  // whole when the agent sees it
    const timer = setTimeout(() => {
      this.pending?.reject(new SessionEnded(`command ${number} did not finish within ${timeoutMs / 1000} s; the VM was stopped`, undefined));
      this.pending = undefined;
      this.kill();
    }, timeoutMs);
    try {
      const status = await ending;
      return { status: Number(status), output: Buffer.concat(output).toString('utf8'), kernelProblems: kernelProblemsIn(this.console), durationMs: Date.now() - started };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits for command `number`'s end marker; resolves with what follows it on its line. */
  private expect(number: number, onOutput: (chunk: Buffer) => void = () => undefined): Promise<string> {
    return new Promise((resolve, reject) => {
      this.pending = { stream: new EndMarkedStream(endMarker(`${this.nonce}-${number}`), onOutput), resolve, reject };
    });
  }

  /** The agent's stdout: the running command's output, up to its end marker. */
  private received(chunk: Buffer): void {
    const pending = this.pending;
    if (!pending) return;  // between commands only a background process can write: dropped
    pending.stream.push(chunk);
    if (pending.stream.ending === undefined) return;
    this.pending = undefined;
    pending.resolve(pending.stream.ending);
  }
}

function describe(result: VmResult): string {
  return result.outcome === 'exited' ? `the agent exited with status ${result.status}` : result.message;
}

export const startSession = (options: SessionOptions): Promise<GuestSession> => GuestSession.start(options);
