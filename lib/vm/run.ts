// runInVm: boot a kernel in QEMU, run one command inside, stream its output, and come back with its
// exit status — or with a distinct status for each way the run itself can fail (errors.ts).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { cacheRoot } from '../cache';
import { DEFAULT_KERNEL } from '../debian/kernel';
import { projectRoot } from '../paths';
import type { OnProgress } from '../progress';
import { bootQemu, type Sink } from './boot';
import { classify, type VmOutcome } from './classify';
import { BOOT_CPU_ONLY } from './cpu-offline';
import { endMarker } from './end-marker';
import { VmError, vmExitStatus } from './errors';
import { commandScript, START_MARKER } from './guest-init';
import { ensureHostTools } from './host-tools';
import { baseInitramfs, guestModules, runArchive, writeRunFiles, type RunFiles } from './initramfs';
import { resolveKernel, withKvmModules, type KernelImage } from './kernel';
import { checkTreeConfig } from './tree-config';
import { validateVmOptions } from './options';
import { insmodArguments, type KvmParam } from './module-params';
import { guestCpuVendor, qemuArgs, resolveAccel, type Accel, type QemuOptions } from './qemu';
import { makeRunDir, removeStaleRunDirs } from './run-dir';
import { driveWarmStart, snapshotFile } from './snapshot';

export type { VmOutcome } from './classify';
export type { Sink } from './boot';

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
  /** Pass the guest kernel's console to onProgress as it comes. */
  verbose?: boolean;
  /**
   * A warm start, under TCG (snapshot.ts): the first run saves the booted guest's state in the cache,
   * and later runs with the same kernel, modules and VM options restore it instead of booting. The
   * guests restored from one state each get the host's clock, freshly seeded random numbers (QEMU's
   * VM generation id) and their own boot id. Under KVM (a nesting host boots fast) it is ignored.
   * Default: on where the boot inputs recur (warmStartByDefault), off elsewhere.
   */
  snapshot?: boolean;
  /** Extra environment variables for the command (besides PATH, HOME, TERM). */
  env?: Readonly<Record<string, string>>;
  /**
   * Parameters for the modules the guest loads (kvm.force_emulation_prefix=1 is { module: 'kvm', name:
   * 'force_emulation_prefix', value: '1' }), checked against the modules' own before the boot.
   */
  kvmParams?: readonly KvmParam[];
  /** Told of each long step (kernel download, host tools, a retry) and the console if verbose; nothing is printed. */
  onProgress?: OnProgress;
}

export interface RunRequest extends VmOptions {
  command: readonly string[];
  /** The command's working directory in the guest (default: ours; the host root is visible). */
  cwd?: string;
  /** Where the command's stdout goes (default: nowhere). */
  output?: Sink;
  /** Where the command's stderr goes (default: nowhere). */
  errorOutput?: Sink;
  /** Retry once in a fresh VM after a TCG flake (the int3 oops; never under KVM) (default true). */
  retryOnFlake?: boolean;
  /** Called with the flake before that retry: whatever the sinks collected came from the failed attempt. */
  onRetry?: (reason: string) => void;
  /** Stops the run (QEMU killed, outcome 'interrupted'), as our own SIGINT would. */
  signal?: AbortSignal;
  /** Called with the guest kernel's console as it comes (besides onProgress when verbose). */
  onConsole?: (text: string) => void;
}

export interface VmResult {
  /** The command's exit status, or the runner's status for a failure (errors.ts). */
  status: number;
  outcome: VmOutcome;
  /** For a failure: what happened, in one line. */
  message: string;
  /** The kernel that ran. */
  kernel: string;
  /** Console lines around a panic or oops (or the last ones), for the report. */
  consoleTail: string[];
  durationMs: number;
  /** How many times the guest was booted (2 after a retry). */
  attempts: number;
  /** After a retry: the TCG flake the first attempt hit. */
  retriedAfter?: string;
}

const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;
/** A guest that has not started the command by then never will (TCG boots in about 5 s here). */
const BOOT_TIMEOUT_MS = 180 * 1000;
const NOWHERE: Sink = { write: () => undefined };
const consoleTo = (onProgress: OnProgress) => (text: string): void => onProgress({ kind: 'console', text });
const FALLBACK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Names the bzImage the VM booted, for a command that boots that kernel itself (xen_guest_migration_test). */
export const BOOTED_KERNEL_ENV = 'KVM_XEN_GUEST_KERNEL';

function guestEnvironment(bzImage: string, extra: Readonly<Record<string, string>>): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? FALLBACK_PATH,
    // The host's home is read-only in the guest; the scratch /tmp is writable.
    HOME: '/tmp',
    TERM: process.env['TERM'] ?? 'dumb',
    KVM_XEN_IN_VM: '1',
    [BOOTED_KERNEL_ENV]: bzImage,
    // npm and npx would write their cache into the read-only host home and wait on the registry the
    // guest cannot reach: a cache in the scratch /tmp, offline, no update or funding checks.
    npm_config_cache: '/tmp/.npm',
    npm_config_offline: 'true',
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    ...extra,
  };
}

/** Where a path leads, links followed; the path itself when it does not exist. */
function realPathOr(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

/**
 * The guest's /tmp is its own scratch tmpfs, which hides the host's /tmp. The directories a run needs
 * from there are kept visible, each top-level directory under /tmp bind-mounted back: the command's
 * (a user's project under /tmp), kvm-xen's own (a checkout under /tmp, as CI may make: the command
 * may run its programs), the cache's (KVM_XEN_CACHE=/tmp/...: sessions' directories are in it) and
 * the booted kernel's (xen_guest_migration_test boots it again: a cache or a user's build there).
 */
export function keptTmpDirectories(cwd: string, bzImage?: string): string[] {
  const resolved = path.resolve(cwd);
  if (resolved === '/tmp') throw new VmError('usage', 'the command cannot run in /tmp itself, which the guest covers with its own scratch tmpfs');
  // The kernel by its path and by where that leads (a link into another directory under /tmp).
  const kernelPaths = bzImage ? [path.resolve(bzImage), realPathOr(bzImage)] : [];
  const underTmp = [resolved, projectRoot, path.resolve(cacheRoot()), ...kernelPaths].filter((dir) => dir.startsWith('/tmp/'));
  return [...new Set(underTmp.map((dir) => `/tmp/${dir.slice('/tmp/'.length).split('/')[0]}`))];
}

interface BootPlan {
  kernel: KernelImage;
  baseInitrd: string;
  accel: 'kvm' | 'tcg';
  /** insmod's arguments per module, from kvmParams. */
  moduleArgs: Map<string, string[]>;
}

/** The kernel (fetched and unpacked if need be) with the KVM modules asked for, and its cached initramfs. */
export async function prepareKernel(options: Pick<VmOptions, 'kernel' | 'kvmModules' | 'onProgress'>): Promise<KernelImage & { baseInitrd: string }> {
  let kernel = await resolveKernel(options.kernel ?? DEFAULT_KERNEL, options.onProgress);
  // A tree says what it was built with: one without what this runner needs is refused before a boot.
  if (kernel.tree) checkTreeConfig(kernel.tree);
  if (options.kvmModules) {
    const replaced = withKvmModules(kernel, options.kvmModules);
    options.onProgress?.({ kind: 'kvmModules', modules: replaced.kvmModules });
    kernel = replaced;
  }
  return { ...kernel, baseInitrd: baseInitramfs(kernel, options.onProgress) };
}

async function plan(request: RunRequest): Promise<BootPlan> {
  if (request.command.length === 0) throw new VmError('usage', 'no command to run');
  keptTmpDirectories(request.cwd ?? process.cwd()); // refuses /tmp itself before anything is fetched
  await ensureHostTools(request.onProgress);
  const kernel = await prepareKernel(request);
  const accel = resolveAccel(request.accel ?? 'auto');
  return { kernel, baseInitrd: kernel.baseInitrd, accel, moduleArgs: moduleArgsFor(request.kvmParams ?? [], kernel, accel) };
}

/** The parameters' insmod arguments, checked against the modules this guest will load (a usage error if not theirs). */
function moduleArgsFor(params: readonly KvmParam[], kernel: KernelImage, accel: 'kvm' | 'tcg'): Map<string, string[]> {
  if (params.length === 0) return new Map();
  const { loaded, notLoaded } = guestModules(kernel, guestCpuVendor(accel));
  return insmodArguments(params, loaded, notLoaded);
}

/** The request's own checks (bad input is a TypeError or RangeError naming it, before anything runs). */
function validateRequest(request: RunRequest): void {
  validateVmOptions(request);
  if (!Array.isArray(request.command) || request.command.some((word) => typeof word !== 'string')) throw new TypeError('command must be an array of strings');
  if (request.cwd !== undefined && typeof request.cwd !== 'string') throw new TypeError(`cwd must be a string, got ${typeof request.cwd}`);
  if (request.retryOnFlake !== undefined && typeof request.retryOnFlake !== 'boolean') throw new TypeError('retryOnFlake must be a boolean');
  if (request.signal !== undefined && !(request.signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
}

export async function runInVm(request: RunRequest): Promise<VmResult> {
  validateRequest(request);
  const started = Date.now();
  removeStaleRunDirs();
  let bootPlan: BootPlan;
  try {
    bootPlan = await plan(request);
  } catch (error) {
    if (!(error instanceof VmError)) throw error;
    return { status: error.status, outcome: error.failure, message: error.message, kernel: request.kernel ?? DEFAULT_KERNEL, consoleTail: [], durationMs: Date.now() - started, attempts: 0 };
  }
  const first = await attempt(request, bootPlan);
  if (first.outcome !== 'flake' || request.retryOnFlake === false) return { ...first, durationMs: Date.now() - started };
  // Safe to repeat: the command sees the host read-only and its scratch dies with the VM, so the
  // first attempt left nothing behind but the output it streamed.
  request.onProgress?.({ kind: 'retry', reason: first.message });
  request.onRetry?.(first.message);
  const second = await attempt(request, bootPlan);
  const message = second.outcome === 'flake' ? `${second.message} (again, after a retry)` : second.message;
  return { ...second, message, attempts: 2, retriedAfter: first.message, durationMs: Date.now() - started };
}

/**
 * The guest kernel's command line: its console on the serial port, a panic or oops ends the run.
 * `quiet` (warnings and worse only, which the runner's classifier still sees) unless the console is
 * shown (--verbose): there the whole boot log is what the user asked for. Under TCG the kernel boots
 * on one CPU and the init brings up the others (cpu-offline.ts: the int3 flake).
 */
export function guestCommandLine(verbose: boolean, append: string | undefined, accel: 'kvm' | 'tcg'): string {
  return ['console=ttyS0', verbose ? '' : 'quiet', 'panic=-1', 'oops=panic', accel === 'tcg' ? BOOT_CPU_ONLY : '', append ?? ''].filter((word) => word !== '').join(' ');
}

/** Who hears the console: the caller's onConsole, and onProgress when verbose. */
function consoleListener(request: RunRequest): { onConsole?: (text: string) => void } {
  const listeners = [request.onConsole, request.verbose && request.onProgress ? consoleTo(request.onProgress) : undefined].filter((listener) => listener !== undefined);
  return listeners.length === 0 ? {} : { onConsole: (text) => { for (const listener of listeners) listener(text); } };
}

/**
 * Whether a run that does not say warm-starts: yes for a Debian package's kernel with its own KVM
 * modules, whose boot inputs recur from run to run, so the state saved once is restored many times.
 * No for a kernel or modules the user built (each build would save 100-200 MB never restored, pushing
 * out states that are) and for a shown console (its boot log is what the user asked to see).
 */
export function warmStartByDefault(kernel: Pick<KernelImage, 'debianVersion'>, options: Pick<VmOptions, 'kvmModules' | 'verbose'>): boolean {
  return kernel.debianVersion !== undefined && options.kvmModules === undefined && options.verbose !== true;
}

/** One boot: the per-run initramfs and FIFOs in a private directory, QEMU, the verdict. */
async function attempt(request: RunRequest, bootPlan: BootPlan): Promise<VmResult> {
  const dir = makeRunDir();
  try {
    const nonce = crypto.randomBytes(16).toString('hex');
    const run: Omit<RunFiles, 'nonce'> = {
      command: commandScript({ argv: request.command, cwd: path.resolve(request.cwd ?? process.cwd()), env: guestEnvironment(bootPlan.kernel.bzImage, request.env ?? {}) }),
      keep: keptTmpDirectories(request.cwd ?? process.cwd(), bootPlan.kernel.bzImage),
      hold: fs.realpathSync(process.execPath),
    };
    const warm = bootPlan.accel === 'tcg' && (request.snapshot ?? warmStartByDefault(bootPlan.kernel, request));
    const initrd = path.join(dir, 'initrd');
    const initrdBytes = Buffer.concat([fs.readFileSync(bootPlan.baseInitrd), runArchive(warm ? 'warm' : { nonce, ...run }, bootPlan.moduleArgs)]);
    fs.writeFileSync(initrd, initrdBytes);
    const stdoutFifo = path.join(dir, 'stdout');
    const stderrFifo = path.join(dir, 'stderr');
    const made = spawnSync('mkfifo', [stdoutFifo, stderrFifo], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr || made.error?.message}`);

    const qemu: QemuOptions = {
      bzImage: bootPlan.kernel.bzImage, initrd, append: guestCommandLine(request.verbose === true, request.append, bootPlan.accel), stdoutFifo, stderrFifo,
      accel: bootPlan.accel, smp: request.smp ?? 2, memMb: request.memMb ?? 2048,
    };
    let alongside: Parameters<typeof bootQemu>[0]['alongside'];
    if (warm) {
      const files = path.join(dir, 'files');
      writeRunFiles(files, run);
      qemu.warm = { monitorSocket: path.join(dir, 'monitor'), controlSocket: path.join(dir, 'control'), restoreFrom: undefined };
      const state = snapshotFile(qemuArgs(qemu), dir, bootPlan.kernel.bzImage, initrdBytes);
      if (state.exists) qemu.warm.restoreFrom = state.file;
      // Said once per kernel and options, when the state is saved; a restore, the default's common
      // case, stays quiet as a boot does.
      if (!state.exists) request.onProgress?.({ kind: 'step', text: `warm start: booting, then saving the guest in ${state.file} for the next runs (--no-snapshot: neither)` });
      const warmStart = { ...qemu.warm, file: state.file, runLine: () => `${nonce} ${Math.floor(Date.now() / 1000)} ${files}` };
      alongside = (consoleHas, ended) => driveWarmStart(warmStart, consoleHas, ended, (why) => request.onProgress?.({ kind: 'step', text: `the guest's state was not saved for warm starts: ${why}` }));
    }
    const limits = { timeoutMs: request.timeoutMs ?? DEFAULT_TIMEOUT_MS, bootTimeoutMs: BOOT_TIMEOUT_MS };
    const seen = await bootQemu({
      qemuArgs: qemuArgs(qemu),
      stdoutFifo,
      stderrFifo,
      startLine: `${nonce} ${START_MARKER}`,
      endMarker: endMarker(nonce),
      stdout: request.output ?? NOWHERE,
      stderr: request.errorOutput ?? NOWHERE,
      ...limits,
      ...(request.signal ? { signal: request.signal } : {}),
      ...(alongside ? { alongside } : {}),
      ...consoleListener(request),
    });
    const verdict = classify(seen, limits, bootPlan.accel);
    const restoredFrom = qemu.warm?.restoreFrom;
    if (restoredFrom && verdict.outcome === 'noStart') {
      // A state this QEMU cannot load (or a guest that does not take its run) is dropped, and the guest
      // booted afresh, which saves a new one.
      fs.rmSync(restoredFrom, { force: true });
      request.onProgress?.({ kind: 'step', text: `the saved guest state did not start (${verdict.message}): booting afresh` });
      return await attempt(request, bootPlan);
    }
    const status = verdict.outcome === 'exited' ? seen.exitStatus! : vmExitStatus[verdict.outcome];
    return { status, ...verdict, kernel: bootPlan.kernel.description, durationMs: seen.durationMs, attempts: 1 };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
