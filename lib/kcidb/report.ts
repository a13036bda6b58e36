// A suite run's parsed TAP (lib/tap) as a KCIDB v5 report: the kernel (and KVM modules) under test as
// one checkout and one build, and one test per selftest and per stage, at dotted paths under
// `kvm_xen` (kvm_xen.xen_shinfo_test.stage_7_TEST_EVTCHN_MASKED). Pure: no I/O, no clock.
//
// Statuses: ok -> PASS, not ok -> FAIL (TIMEOUT too), SKIP -> SKIP, a check planned but never run
// ("not ok ... # ERROR") -> ERROR. A known kernel gap (kselftest's XFAIL; "# TODO" in TAP 13) is FAIL,
// because the code under test really lacks what the check checks, and comparing a stock and a patched
// kernel must show it go from FAIL to PASS; it is marked as expected the way KCIDB triages known
// failures: one issue per gap (culprit: the code) and an incident tying each such test to it, so a
// dashboard lists it under that known issue and not as a new failure. misc.expected_fail says the same
// on the test itself.
import crypto from 'node:crypto';

import { outcomeOf, type TapDocument, type TapResult } from '../tap/parse';
import type { ResultTiming } from './timing';
import { KCIDB_VERSION, type KcidbIncident, type KcidbIssue, type KcidbReport, type KcidbStatus, type KcidbTest } from './schema';

/** The origin (submitting CI system) kvm-xen reports under, unless told otherwise. */
export const ORIGIN = 'kvm_xen';
/** Every test's path starts here. */
export const ROOT_PATH = 'kvm_xen';

export interface KcidbRun {
  /** Unique among this origin's runs; becomes part of every test id. */
  runId: string;
  /** When the suite started (ISO 8601 from a Date). */
  startTime: Date;
  /** The kernel as the runner describes it, e.g. "Debian 6.12.117+deb12-amd64 (6.12.117-1~deb12u1)". */
  kernel: string;
  /** The source tree's name, if known (e.g. "debian" for Debian's kernels). */
  treeName?: string;
  /** KVM modules loaded instead of the kernel's own: where they were, and a digest of their contents. */
  kvmModules?: { dir: string; digest: string };
  /** Where the suite ran, in words (e.g. "QEMU guest, TCG, 2 vCPUs"). */
  environment?: string;
  /**
   * When each TAP result line's test started and how long it took, in seconds from startTime, in the
   * order the lines appear in the output (a subtest's before the line that closes it), as TimedLines
   * measures them; not used when their count disagrees with the parsed results.
   */
  timings?: readonly ResultTiming[];
  origin?: string;
}

const PATH_PART = /[^A-Za-z0-9_-]+/g;
const REPEAT_LABEL = /\s*\(run (\d+)\/(\d+)\)$/;
const LOG_EXCERPT_LINES = 40;

/** A TAP description as one node of a KCIDB path: [A-Za-z0-9_-]+. */
export function pathPart(description: string, number: number): string {
  const part = description.replace(PATH_PART, '_').replace(/^_+|_+$/g, '');
  return part || `test_${number}`;
}

function digest(...parts: string[]): string {
  return crypto.createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 20);
}

type Outcome = ReturnType<typeof outcomeOf>;

function statusOf(result: TapResult, outcome: Outcome): KcidbStatus {
  // A check planned but never reported (the test ended first): it did not complete, and says nothing
  // about the kernel.
  if (result.directive === 'ERROR') return 'ERROR';
  switch (outcome) {
    case 'pass': return 'PASS';
    case 'fail': return 'FAIL';
    case 'skip': return 'SKIP';
    case 'todo': return 'FAIL';  // a known gap: see the top of this file
    default: {
      const unknown: never = outcome;
      throw new RangeError(`no KCIDB status for TAP outcome ${String(unknown)}`);
    }
  }
}

/** Results in the order their lines appear: a subtest's lines before the line that closes it. */
function inOutputOrder(doc: TapDocument, parents: readonly TapResult[] = []): Array<{ result: TapResult; parents: readonly TapResult[] }> {
  const ordered: Array<{ result: TapResult; parents: readonly TapResult[] }> = [];
  for (const result of doc.results) {
    if (result.subtest) ordered.push(...inOutputOrder(result.subtest, [...parents, result]));
    ordered.push({ result, parents });
  }
  return ordered;
}

function miscOf(result: TapResult, outcome: Outcome, repeat: RegExpExecArray | null): Record<string, unknown> {
  const misc: Record<string, unknown> = { tap_number: result.number };
  if (result.directive) misc['directive'] = result.directive;
  if (result.reason) misc['reason'] = result.reason;
  if (repeat) misc['run'] = `${repeat[1]}/${repeat[2]}`;
  if (outcome === 'todo') misc['expected_fail'] = true;
  return misc;
}

/** One issue per known gap, named by its reason: the kernel is at fault, not the test or the harness. */
function knownGapIssue(origin: string, gap: string): KcidbIssue {
  return { id: `${origin}:known_gap_${digest(gap).slice(0, 12)}`, version: 1, origin, comment: gap, culprit: { code: true, tool: false, harness: false } };
}

/** The KCIDB report of one suite run. */
export function kcidbReport(doc: TapDocument, run: KcidbRun): KcidbReport {
  const origin = run.origin ?? ORIGIN;
  const checkoutId = `${origin}:${digest(run.kernel)}`;
  const buildId = `${origin}:${digest(run.kernel, run.kvmModules?.digest ?? 'own KVM modules')}`;
  const ordered = inOutputOrder(doc);
  const timings = run.timings?.length === ordered.length ? run.timings : undefined;
  const issues = new Map<string, KcidbIssue>();
  const incidents: KcidbIncident[] = [];

  const tests = ordered.map(({ result, parents }, index): KcidbTest => {
    const outcome = outcomeOf(result);
    const test: KcidbTest = {
      id: `${origin}:${run.runId}.${index + 1}`,
      origin,
      build_id: buildId,
      path: [ROOT_PATH, ...[...parents, result].map((r) => pathPart(r.description.replace(REPEAT_LABEL, ''), r.number))].join('.'),
      status: statusOf(result, outcome),
      comment: result.description,
      misc: miscOf(result, outcome, REPEAT_LABEL.exec(parents[0]?.description ?? result.description)),
    };
    const timing = timings?.[index];
    // An ERROR line is written when its test has ended, for a check that never ran: no time of its own.
    if (timing && result.directive !== 'ERROR') {
      test.start_time = new Date(run.startTime.getTime() + timing.startS * 1000).toISOString();
      test.duration = Math.round(timing.durationS * 1000) / 1000;
    }
    if (run.environment) test.environment = { comment: run.environment };
    if (outcome === 'fail' || outcome === 'todo') {
      const lines = [`${result.description}${result.reason ? ` # ${result.reason}` : ''}`, ...result.diagnostics];
      test.log_excerpt = lines.slice(0, LOG_EXCERPT_LINES).join('\n');
    }
    if (outcome === 'todo') {
      const issue = knownGapIssue(origin, result.reason || result.description);
      issues.set(issue.id, issue);
      incidents.push({ id: `${test.id}.known_gap`, origin, issue_id: issue.id, issue_version: issue.version, test_id: test.id, present: true });
    }
    return test;
  });

  const modules = run.kvmModules ? ` with KVM modules from ${run.kvmModules.dir}` : '';
  return {
    version: { ...KCIDB_VERSION },
    checkouts: [{
      id: checkoutId,
      origin,
      ...(run.treeName ? { tree_name: run.treeName } : {}),
      comment: run.kernel,
      valid: true,
    }],
    builds: [{
      id: buildId,
      origin,
      checkout_id: checkoutId,
      architecture: 'x86_64',
      comment: `${run.kernel}${modules}`,
      // It booted and ran the suite: the build under test exists and works that far.
      status: 'PASS',
      ...(run.kvmModules ? { misc: { kvm_modules: run.kvmModules.dir, kvm_modules_sha256: run.kvmModules.digest } } : {}),
    }],
    tests,
    issues: [...issues.values()],
    incidents,
  };
}

/** Several runs' reports (compare's two kernels) as one; objects with the same id appear once. */
export function mergeReports(reports: readonly KcidbReport[]): KcidbReport {
  const unique = <T extends { id: string }>(items: T[]): T[] => [...new Map(items.map((item) => [item.id, item])).values()];
  return {
    version: { ...KCIDB_VERSION },
    checkouts: unique(reports.flatMap((r) => r.checkouts)),
    builds: unique(reports.flatMap((r) => r.builds)),
    tests: unique(reports.flatMap((r) => r.tests)),
    issues: unique(reports.flatMap((r) => r.issues)),
    incidents: unique(reports.flatMap((r) => r.incidents)),
  };
}
