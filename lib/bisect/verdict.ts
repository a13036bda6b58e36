// What one suite run says, for a bisect: a verdict to compare with the reference's (the suite's
// status, or one stage's outcome), or that it could not be judged (the runner failed: no kernel,
// a flake, a boot that never reached the suite). A kernel crash once the suite has started is the
// tree's doing, and a verdict ('crash'); before, it is not. A run that says nothing about any kernel
// (a usage error, a missing host tool, an interrupt) stops a bisect instead of being stepped around.
import { compareRuns, flatten, type ComparisonRow, type Outcome } from '../tap/compare';
import { parseTap, type TapDocument } from '../tap/parse';
import { vmExitStatus, type VmFailure, type VmOutcome } from '../vm';

export type Verdict = 'pass' | 'fail' | 'skip' | 'crash' | Outcome;

export type RunVerdict =
  | { judged: true; verdict: Verdict; doc: TapDocument }
  | { judged: false; reason: string; stop?: VmFailure };

/**
 * How a run can end that no kernel caused and no other kernel would change: the command or its
 * options are wrong, the host lacks a tool, or the run was interrupted. Judging the next item would
 * end the same way, so a bisect stops (`stop`) rather than skipping.
 */
const STOPS: ReadonlySet<VmFailure> = new Set<VmFailure>(['usage', 'missingTool', 'interrupted', 'outputClosed']);

/** `git bisect run` stops the whole bisection on a status of 128 or more (1-127 but 125 mark the commit bad). */
export const GIT_BISECT_ABORT = 128;

/** A status that stops `git bisect run`: `status` when it already does (130 after Ctrl-C), else 128. */
export function gitBisectAbort(status: number): number {
  return status >= GIT_BISECT_ABORT ? status : GIT_BISECT_ABORT;
}

export interface SuiteRun {
  status: number;
  outcome: VmOutcome;
  message: string;
  /** What the suite printed (KTAP). */
  output: string;
}

/** The suite's own exit statuses (kselftest's). */
const SUITE_STATUS: Readonly<Record<number, Verdict>> = { 0: 'pass', 1: 'fail', 4: 'skip' };

/** The row key `wanted` names: itself, or the one key containing it; a RangeError otherwise. */
export function resolveStage(keys: Iterable<string>, wanted: string): string {
  const all = [...keys];
  if (all.includes(wanted)) return wanted;
  const matching = all.filter((key) => key.includes(wanted));
  if (matching.length === 1) return matching[0]!;
  const shown = (matching.length > 0 ? matching : all).slice(0, 8).map((key) => `  ${key}`).join('\n');
  throw new RangeError(`--stage ${JSON.stringify(wanted)} names ${matching.length === 0 ? 'no' : matching.length} stage${matching.length === 1 ? '' : 's'} of the run; ${matching.length > 0 ? 'it could be' : 'stages are like'}:\n${shown}`);
}

/** The run's verdict: the suite's (pass/fail/skip), or `stage`'s outcome when one is named ('missing' if it never printed it). */
export function judgeRun(run: SuiteRun, stage?: string): RunVerdict {
  const suiteStarted = /^KTAP version 1$/m.test(run.output);
  const doc = parseTap(run.output);
  if (run.outcome === 'guestPanic' && suiteStarted) return { judged: true, verdict: 'crash', doc };
  if (run.outcome !== 'exited' && STOPS.has(run.outcome)) return { judged: false, reason: run.message, stop: run.outcome };
  if (run.outcome !== 'exited') return { judged: false, reason: run.message };
  // The suite in the guest refused its arguments: no kernel would make it accept them.
  if (run.status === vmExitStatus.usage) return { judged: false, reason: `the suite refused its arguments (exit ${run.status})`, stop: 'usage' };
  if (stage !== undefined) return { judged: true, verdict: flatten(doc).get(stage) ?? 'missing', doc };
  const verdict = SUITE_STATUS[run.status];
  if (verdict === undefined) return { judged: false, reason: `the suite exited with status ${run.status}` };
  return { judged: true, verdict, doc };
}

/**
 * The status `git bisect run` reads: 0 good (the suite, or the stage, passed; a known kernel gap
 * counts as passed, as the suite's own status does), 1 bad (a failure, or a kernel crash during the
 * suite), 125 cannot be judged (skipped, never run, or the runner failed), 128 or more (130 after an
 * interrupt) to stop the bisection when the run says nothing about any kernel.
 */
export function gitBisectStatus(verdict: RunVerdict): number {
  if (!verdict.judged) return verdict.stop === undefined ? 125 : gitBisectAbort(vmExitStatus[verdict.stop]);
  switch (verdict.verdict) {
    case 'pass': case 'todo': return 0;
    case 'fail': case 'crash': return 1;
    default: return 125;
  }
}

/** The tests and stages whose outcome differs between the reference run and another. */
export function changedStages(reference: TapDocument, other: TapDocument): ComparisonRow[] {
  return compareRuns(reference, other).filter((row) => row.a !== row.b);
}
