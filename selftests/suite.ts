// The suite `kvm-xen test` runs: each selftest as a child process (as kselftest's runner does, so one
// test's crash or hang cannot take the others with it), its KTAP nested as a subtest of ours.
import { spawn } from 'node:child_process';
import path from 'node:path';

import { outcomeOf, parseTap } from '../lib/tap/parse';
import { KSFT_FAIL, KSFT_PASS, KSFT_SKIP } from './lib/ksft';

export interface SelftestEntry {
  readonly name: string;
  readonly summary: string;
  /** The program to run (default: the compiled selftests/<name>.js). */
  readonly script?: string;
}

export const selftests: readonly SelftestEntry[] = [
  { name: 'xen_shinfo_test', summary: 'port of the kernel selftest: shared_info, runstate, event channels, timers, polls, races' },
  { name: 'xen_vmcall_test', summary: 'port of the kernel selftest: hypercalls that exit to userspace (KVM_EXIT_XEN)' },
  { name: 'xen_evtchn_setup_test', summary: 'new: timer/eventfd/IPI set-up must mark an already-pending port in vcpu_info (LKML, 22 Nov 2023)' },
  { name: 'xen_migration_test', summary: 'new: events whose index bits sit in KVM\'s shadow must survive a save/restore' },
  { name: 'xen_guest_migration_test', summary: 'new: a live-migrated Linux Xen guest (lib/vmm) whose timer event fired while vcpu_info was away must keep its timer' },
  { name: 'xen_poll_test', summary: 'new: SCHEDOP_poll must block until its timeout on a quiet port and return at once on a pending one' },
];

export interface SuiteOptions {
  /** The selftests to choose from (default: `selftests`, the project's). */
  tests?: readonly SelftestEntry[];
  /** Run only these tests (by name); all when empty. */
  only?: readonly string[];
  /** Passed to each test: count known kernel gaps (XFAIL) as failures. */
  strict?: boolean;
  verbose?: boolean;
  /** Per test (default 300 s); a test that runs longer is killed and fails. */
  timeoutMs?: number;
  /** Run the whole suite this many times and report per-stage pass/fail counts (default 1). */
  repeat?: number;
  out?: { write(text: string): unknown };
}

export interface TestOutcome {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  detail: string;
  /** The test's own result lines: description and how it ended. */
  results: Array<{ description: string; result: 'pass' | 'fail' | 'skip' | 'todo' }>;
  /** Checks the test planned but never ran: those it reported "# ERROR", and those it died before reporting. */
  notRun?: string[];
}

/** KTAP's unit of nesting: a subtest's lines are indented two spaces under its parent's. */
const INDENT = '  ';

function scriptOf(test: SelftestEntry): string {
  return test.script ?? path.join(__dirname, `${test.name}.js`);
}

/** Calls `onLine` with each whole line of a stream; `flush` passes on a last line without its newline. */
function lineSplitter(onLine: (line: string) => void): { push(chunk: string): void; flush(): void } {
  let pending = '';
  return {
    push(chunk) {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop()!;
      for (const line of lines) onLine(line);
    },
    flush() {
      if (pending) onLine(pending);
      pending = '';
    },
  };
}

/** Why a test that ended on its own or was killed did so, or undefined for a clean exit (0 or skip). */
function endDetail(code: number | null, signal: NodeJS.Signals | null, timedOutAfterMs: number | undefined): string | undefined {
  if (timedOutAfterMs !== undefined) return `timed out after ${timedOutAfterMs / 1000} s`;
  if (signal) return `killed by ${signal}`;
  if (code === KSFT_PASS || code === KSFT_SKIP) return undefined;
  return `exit status ${code}`;
}

/**
 * Runs one selftest, streaming its KTAP as a subtest (indented one level; its stderr as diagnostic
 * lines). A test that dies before reporting all it planned gets the rest reported as not run.
 */
function runOne(test: SelftestEntry, options: SuiteOptions, write: (text: string) => void): Promise<TestOutcome> {
  const args = [scriptOf(test)];
  if (options.strict) args.push('--strict');
  if (options.verbose) args.push('--verbose');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    const out = lineSplitter((line) => {
      stdout += `${line}\n`;
      write(`${INDENT}${line}\n`);
    });
    const err = lineSplitter((line) => write(`${INDENT}# ${line}\n`));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => out.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => err.push(chunk));
    const timeoutMs = options.timeoutMs ?? 300000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      out.flush();
      err.flush();
      const doc = parseTap(stdout);
      // A check reported "# ERROR" is one the test never ran (Tap.notRun): counted apart from the results.
      const ran = doc.results.filter((result) => result.directive !== 'ERROR');
      const results = ran.map((result) => ({ description: result.description, result: outcomeOf(result) }));
      const died = endDetail(code, signal, timedOut ? timeoutMs : undefined);
      const planned = doc.plan?.end ?? 0;
      const notRun = doc.results.filter((result) => result.directive === 'ERROR').map((result) => result.description);
      for (let number = doc.results.length + 1; number <= planned; number++) {
        notRun.push(`planned check ${number}`);
        write(`${INDENT}not ok ${number} planned check ${number} # ERROR not run: ${test.name} ended first (${died ?? 'exit status 0'})\n`);
      }
      const end = (status: TestOutcome['status'], detail: string): void => resolve({ name: test.name, status, detail, results, notRun });
      if (died) end('fail', doc.bailOut ? `${died}: ${doc.bailOut}` : died);
      else if (doc.plan === undefined) end('fail', 'no KTAP plan line');
      else if (doc.results.length !== planned) end('fail', `planned ${planned} checks, reported ${doc.results.length}`);
      else if (code === KSFT_SKIP) end('skip', doc.plan.skipReason || 'skipped');
      else end('pass', '');
    });
  });
}

/** The Totals line's counts: every check (leaf) of every test; a test without checks counts as one. */
export function suiteTotals(outcomes: readonly TestOutcome[]): Record<'pass' | 'fail' | 'xfail' | 'skip' | 'error', number> {
  const totals = { pass: 0, fail: 0, xfail: 0, skip: 0, error: 0 };
  for (const outcome of outcomes) {
    totals.error += outcome.notRun?.length ?? 0;
    if (outcome.results.length === 0 && !outcome.notRun?.length) totals[outcome.status]++;
    for (const { result } of outcome.results) totals[result === 'todo' ? 'xfail' : result]++;
  }
  return totals;
}

/** Runs the suite; returns the kselftest exit status: 1 if any test failed, 4 if all skipped, else 0. */
export async function runSuite(options: SuiteOptions = {}): Promise<number> {
  const out = options.out ?? process.stdout;
  const write = (text: string): void => { out.write(text); };
  const known = options.tests ?? selftests;
  const unknown = (options.only ?? []).filter((name) => !known.some((test) => test.name === name));
  if (unknown.length > 0) throw new Error(`unknown selftest ${unknown.join(', ')}; known: ${known.map((t) => t.name).join(', ')}`);
  const chosen = known.filter((test) => !options.only?.length || options.only.includes(test.name));
  const repeat = options.repeat ?? 1;
  if (!Number.isInteger(repeat) || repeat < 1) throw new RangeError('repeat must be a positive integer');

  write('KTAP version 1\n');
  write(`1..${chosen.length * repeat}\n`);
  const outcomes: TestOutcome[] = [];
  for (let run = 1; run <= repeat; run++) {
    for (const test of chosen) {
      const label = repeat > 1 ? `${test.name} (run ${run}/${repeat})` : test.name;
      const outcome = await runOne(test, options, write);
      outcomes.push(outcome);
      const number = outcomes.length;
      if (outcome.status === 'pass') write(`ok ${number} ${label}\n`);
      else if (outcome.status === 'skip') write(`ok ${number} ${label} # SKIP ${outcome.detail}\n`);
      else write(`# ${label}: ${outcome.detail}\nnot ok ${number} ${label}\n`);
    }
  }
  if (repeat > 1) for (const line of stageCountLines(outcomes, repeat)) write(`# ${line}\n`);
  const totals = suiteTotals(outcomes);
  write(`# Totals: pass:${totals.pass} fail:${totals.fail} xfail:${totals.xfail} xpass:0 skip:${totals.skip} error:${totals.error}\n`);
  const count = (status: TestOutcome['status']): number => outcomes.filter((o) => o.status === status).length;
  if (count('fail') > 0) return KSFT_FAIL;
  if (count('pass') === 0 && count('skip') > 0) return KSFT_SKIP;
  return KSFT_PASS;
}

/**
 * After --repeat: how often each test's each line passed, failed, was a known gap (xfail), was skipped,
 * or was not reached at all (the test died before it), most failures first.
 */
export function stageCountLines(outcomes: readonly TestOutcome[], repeat: number): string[] {
  const counts = new Map<string, Record<'pass' | 'fail' | 'skip' | 'todo', number>>();
  const entry = (outcome: TestOutcome, description: string): Record<'pass' | 'fail' | 'skip' | 'todo', number> => {
    const key = `${outcome.name}: ${description}`;
    const found = counts.get(key) ?? { pass: 0, fail: 0, skip: 0, todo: 0 };
    counts.set(key, found);
    return found;
  };
  for (const outcome of outcomes) {
    for (const { description, result } of outcome.results) entry(outcome, description)[result]++;
    for (const description of outcome.notRun ?? []) entry(outcome, description);
  }
  const notRun = (c: Record<string, number>): number => repeat - c['pass']! - c['fail']! - c['skip']! - c['todo']!;
  const column = (n: number): string => String(n).padStart(4);
  const rows = [...counts.entries()].sort(([, a], [, b]) => b.fail + notRun(b) - (a.fail + notRun(a)));
  return [
    `Per-stage results over ${repeat} runs (pass/fail/xfail/skip/not run):`,
    ...rows.map(([key, c]) => `  ${column(c.pass)} ${column(c.fail)} ${column(c.todo)} ${column(c.skip)} ${column(notRun(c))}  ${key}`),
  ];
}
