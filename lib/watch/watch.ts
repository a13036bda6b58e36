// The kernel developer's loop: boot a guest once, then on every change of the patch files rebuild the
// KVM modules incrementally (lib/kbuild's kept tree), swap them into the running guest (lib/vm's
// session), rerun the tests and compare their KTAP with the previous run's, stage by stage (lib/tap).
// Nothing is printed: each step is an event for the caller.
import { BuildError, checkPatchFiles, KvmBuildTree, type TreeBuild } from '../kbuild';
import { compareRuns, type ComparisonRow } from '../tap/compare';
import { parseTap, type TapDocument } from '../tap/parse';
import { GuestSession, SessionEnded, validateVmOptions, type Sink, type VmOptions, type VmResult } from '../vm';
import { PatchFiles } from './patch-files';

export interface WatchRequest extends VmOptions {
  /** The patch files (applied in order to the kernel's KVM sources); watched for changes. */
  patches: readonly string[];
  /** The command that runs the tests in the guest and prints KTAP (the suite's `kvm-xen test NAME...`). */
  testCommand: readonly string[];
  /** The test command's working directory (default: ours). */
  cwd?: string;
  /** Where the test command's stderr goes (default: nowhere). */
  errorOutput?: Sink;
  /** Each step of the loop, as it happens. */
  onEvent: (event: WatchEvent) => void;
  /** Ends the watch: the guest is stopped, the build tree released. */
  signal: AbortSignal;
  /** How long one test run may take before the guest is taken as hung and booted again (default 10 min). */
  testTimeoutMs?: number;
  /** How often the patch files are looked at (default 100 ms). */
  pollMs?: number;
}

export interface RunReport {
  /** 1 for the first run of the watch, then 2, 3, ... */
  number: number;
  /** The test command's exit status (the suite's: 0 pass, 1 fail, 4 all skipped). */
  status: number;
  tap: TapDocument;
  /** Every test and stage against the previous run's, changes first (compareRuns); none for the first run. */
  diff: ComparisonRow[] | undefined;
  /** The guest's boot id: the same run after run unless the guest had to be booted again. */
  bootId: string;
  build: TreeBuild;
  /** Booting the guest (the first run, or after a lost guest) or swapping the modules in it. */
  load: { kind: 'boot' | 'reload'; ms: number };
  testMs: number;
  /** What the guest kernel reported during the tests (WARN, BUG, oops, ...): a failure whatever the status. */
  kernelProblems: string[];
  /** From the change being seen (or the watch starting) to this report. */
  totalMs: number;
}

export type WatchEvent =
  | { kind: 'building'; patches: readonly string[] }
  | { kind: 'buildFailed'; message: string }
  | { kind: 'booting' }
  | { kind: 'booted'; bootId: string; ms: number }
  | { kind: 'reloadFailed'; status: number; output: string }
  | { kind: 'run'; report: RunReport }
  /** The guest died or stopped answering; the next change (or a retry after a TCG flake) boots a new one. */
  | { kind: 'guestLost'; message: string; result: VmResult | undefined }
  | { kind: 'waiting' };

export interface WatchEnd {
  /** 'stopped': the signal ended it; 'noGuest': the guest could not be booted (result says why). */
  reason: 'stopped' | 'noGuest';
  result: VmResult | undefined;
  runs: number;
}

const DEFAULT_TEST_TIMEOUT_MS = 10 * 60 * 1000;
/** Ways a guest fails to start that no change of the patches can fix: the watch ends. */
const FATAL: ReadonlySet<VmResult['outcome']> = new Set(['usage', 'badKernel', 'missingTool']);

/** The request's VM options, for the guest session. */
function vmOptionsOf(request: WatchRequest): VmOptions {
  const { patches: _patches, testCommand: _command, cwd: _cwd, errorOutput: _errors, onEvent: _onEvent, signal: _signal, testTimeoutMs: _timeout, pollMs: _poll, ...vm } = request;
  return vm;
}

function validate(request: WatchRequest): void {
  validateVmOptions(request);
  if (!Array.isArray(request.patches) || request.patches.length === 0 || request.patches.some((p) => typeof p !== 'string')) {
    throw new TypeError('patches must be a non-empty array of file names');
  }
  if (!Array.isArray(request.testCommand) || request.testCommand.length === 0 || request.testCommand.some((w) => typeof w !== 'string')) {
    throw new TypeError('testCommand must be a non-empty array of strings');
  }
  if (typeof request.onEvent !== 'function') throw new TypeError('onEvent must be a function');
  if (!(request.signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
  if (request.kvmModules !== undefined) throw new TypeError('kvmModules: a watch builds its own modules from the patches');
}

/** Runs the loop until `signal` aborts (or no guest can be booted). */
export async function watchPatches(request: WatchRequest): Promise<WatchEnd> {
  validate(request);
  // Missing or empty patches at the start are the user's mistake (PatchError); later, a save in progress.
  checkPatchFiles(request.patches);
  const { signal, onEvent } = request;
  const tree = await KvmBuildTree.open({ ...(request.kernel ? { kernel: request.kernel } : {}), ...(request.onProgress ? { onProgress: request.onProgress } : {}) });
  const files = new PatchFiles(request.patches, request.pollMs ?? 100);
  const stopSession = (): void => session?.kill();
  signal.addEventListener('abort', stopSession);
  let session: GuestSession | undefined;
  let previous: TapDocument | undefined;
  let runs = 0;
  let lastResult: VmResult | undefined;
  try {
    let fingerprint = files.fingerprint();
    let seenAt = Date.now();
    while (!signal.aborted) {
      onEvent({ kind: 'building', patches: request.patches });
      let build: TreeBuild | undefined;
      try {
        build = await tree.build(request.patches, signal);
      } catch (error) {
        if (signal.aborted) break;
        if (!(error instanceof BuildError)) throw error;
        onEvent({ kind: 'buildFailed', message: error.message });
      }
      // A TCG flake is the machine's, not the patch's: the same build (not built again: its report
      // names what this change compiled) runs once more in a fresh guest.
      for (let attempt = 1; build && !signal.aborted; attempt++) {
        try {
          const report = await iteration(build);
          if (report) {
            previous = report.tap;
            onEvent({ kind: 'run', report: { ...report, number: ++runs, totalMs: Date.now() - seenAt } });
          }
          break;
        } catch (error) {
          if (signal.aborted) break;
          if (!(error instanceof SessionEnded)) throw error;
          session = undefined;
          lastResult = error.result;
          onEvent({ kind: 'guestLost', message: error.message, result: error.result });
          if (error.result && FATAL.has(error.result.outcome)) return { reason: 'noGuest', result: error.result, runs };
          if (error.result?.outcome !== 'flake' || attempt > 1) break;
        }
      }
      if (signal.aborted) break;
      onEvent({ kind: 'waiting' });
      const next = await files.changedFrom(fingerprint, signal);
      if (next === undefined) break;
      fingerprint = next;
      seenAt = Date.now();
    }
    return { reason: 'stopped', result: lastResult, runs };
  } finally {
    signal.removeEventListener('abort', stopSession);
    files.close();
    if (session) await session.close().catch(() => undefined);
    tree.close();
  }

  /** Loads `build`'s modules (booting a guest with them if there is none) and runs the tests. */
  async function iteration(build: TreeBuild): Promise<Omit<RunReport, 'number' | 'totalMs'> | undefined> {
    const loadStarted = Date.now();
    let load: RunReport['load'];
    if (!session) {
      onEvent({ kind: 'booting' });
      session = await GuestSession.start({ ...vmOptionsOf(request), kvmModules: build.dir, cwd: request.cwd ?? process.cwd(), ...(request.errorOutput ? { errorOutput: request.errorOutput } : {}) });
      if (signal.aborted) return undefined;
      load = { kind: 'boot', ms: Date.now() - loadStarted };
      onEvent({ kind: 'booted', bootId: session.bootId, ms: load.ms });
    } else {
      const reload = await session.reloadKvmModules(build.dir);
      if (reload.status !== 0) {
        onEvent({ kind: 'reloadFailed', status: reload.status, output: reload.output });
        return undefined;
      }
      load = { kind: 'reload', ms: Date.now() - loadStarted };
    }
    const result = await session.run(request.testCommand, { ...(request.cwd ? { cwd: request.cwd } : {}), timeoutMs: request.testTimeoutMs ?? DEFAULT_TEST_TIMEOUT_MS });
    const tap = parseTap(result.output);
    return { status: result.status, tap, diff: previous ? compareRuns(previous, tap) : undefined, bootId: session.bootId, build, load, testMs: result.durationMs, kernelProblems: result.kernelProblems };
  }
}
