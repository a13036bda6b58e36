// The suite `kvm-xen test` runs: each selftest as a child process (as kselftest's runner does, so one
// test's crash or hang cannot take the others with it), its TAP nested under one line of ours.
import { spawn } from 'node:child_process';
import path from 'node:path';

import { outcomeOf, parseTap } from '../lib/tap/parse';
import { KSFT_FAIL, KSFT_PASS, KSFT_SKIP } from './lib/ksft';

export interface SelftestEntry {
  readonly name: string;
  readonly summary: string;
}

export const selftests: readonly SelftestEntry[] = [
  { name: 'xen_shinfo_test', summary: 'port of the kernel selftest: shared_info, runstate, event channels, timers, polls, races' },
  { name: 'xen_vmcall_test', summary: 'port of the kernel selftest: hypercalls that exit to userspace (KVM_EXIT_XEN)' },
  { name: 'xen_evtchn_setup_test', summary: 'new: timer/eventfd/IPI set-up must mark an already-pending port in vcpu_info (LKML, 22 Nov 2023)' },
  { name: 'xen_migration_test', summary: 'new: events whose index bits sit in KVM\'s shadow must survive a save/restore' },
  { name: 'xen_poll_test', summary: 'new: SCHEDOP_poll must block until its timeout on a quiet port and return at once on a pending one' },
];

export interface SuiteOptions {
  /** Run only these tests (by name); all when empty. */
  only?: readonly string[];
  /** Passed to each test: count known kernel gaps (TODO) as failures. */
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
}

function scriptOf(name: string): string {
  return path.join(__dirname, `${name}.js`);
}

/** Runs one selftest, streaming its TAP indented by four spaces (a nested subtest). */
function runOne(test: SelftestEntry, options: SuiteOptions, write: (text: string) => void): Promise<TestOutcome> {
  const args = [scriptOf(test.name)];
  if (options.strict) args.push('--strict');
  if (options.verbose) args.push('--verbose');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let pending = '';
    const emit = (chunk: string): void => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) write(`    ${line}\n`);
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      emit(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => emit(chunk.split('\n').map((l) => (l ? `# ${l}` : l)).join('\n')));
    const timeoutMs = options.timeoutMs ?? 300000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (pending) write(`    ${pending}\n`);
      // The test's own TAP (stdout only: its stderr is interleaved above as comments).
      const doc = parseTap(stdout);
      const results = doc.results.map((result) => ({ description: result.description, result: outcomeOf(result) }));
      const skipReason = doc.plan?.skipReason;
      const end = (status: TestOutcome['status'], detail: string): void => resolve({ name: test.name, status, detail, results });
      if (timedOut) end('fail', `timed out after ${timeoutMs / 1000} s`);
      else if (signal) end('fail', `killed by ${signal}`);
      else if (code === KSFT_PASS) end('pass', '');
      else if (code === KSFT_SKIP) end('skip', skipReason || 'skipped');
      else end('fail', `exit status ${code}`);
    });
  });
}

/** Runs the suite; returns the kselftest exit status: 1 if any test failed, 4 if all skipped, else 0. */
export async function runSuite(options: SuiteOptions = {}): Promise<number> {
  const out = options.out ?? process.stdout;
  const write = (text: string): void => { out.write(text); };
  const unknown = (options.only ?? []).filter((name) => !selftests.some((test) => test.name === name));
  if (unknown.length > 0) throw new Error(`unknown selftest ${unknown.join(', ')}; known: ${selftests.map((t) => t.name).join(', ')}`);
  const chosen = selftests.filter((test) => !options.only?.length || options.only.includes(test.name));
  const repeat = options.repeat ?? 1;
  if (!Number.isInteger(repeat) || repeat < 1) throw new RangeError('repeat must be a positive integer');

  write('TAP version 13\n');
  write(`1..${chosen.length * repeat}\n`);
  const outcomes: TestOutcome[] = [];
  for (let run = 1; run <= repeat; run++) {
    for (const test of chosen) {
      const label = repeat > 1 ? `${test.name} (run ${run}/${repeat})` : test.name;
      write(`# Subtest: ${label}\n`);
      const outcome = await runOne(test, options, write);
      outcomes.push(outcome);
      const number = outcomes.length;
      if (outcome.status === 'pass') write(`ok ${number} - ${label}\n`);
      else if (outcome.status === 'skip') write(`ok ${number} - ${label} # SKIP ${outcome.detail}\n`);
      else write(`not ok ${number} - ${label}\n# ${label}: ${outcome.detail}\n`);
    }
  }
  if (repeat > 1) for (const line of stageCountLines(outcomes, repeat)) write(`# ${line}\n`);
  const count = (status: TestOutcome['status']): number => outcomes.filter((o) => o.status === status).length;
  write(`# Totals: pass:${count('pass')} fail:${count('fail')} xfail:0 xpass:0 skip:${count('skip')} error:0\n`);
  if (count('fail') > 0) return KSFT_FAIL;
  if (count('pass') === 0 && count('skip') > 0) return KSFT_SKIP;
  return KSFT_PASS;
}

/**
 * After --repeat: how often each test's each line passed, failed, was a known gap (todo), was skipped,
 * or was not reached at all (the test died before it), most failures first.
 */
export function stageCountLines(outcomes: readonly TestOutcome[], repeat: number): string[] {
  const counts = new Map<string, Record<'pass' | 'fail' | 'skip' | 'todo', number>>();
  for (const outcome of outcomes) {
    for (const { description, result } of outcome.results) {
      const key = `${outcome.name}: ${description}`;
      const entry = counts.get(key) ?? { pass: 0, fail: 0, skip: 0, todo: 0 };
      entry[result]++;
      counts.set(key, entry);
    }
  }
  const notRun = (c: Record<string, number>): number => repeat - c['pass']! - c['fail']! - c['skip']! - c['todo']!;
  const column = (n: number): string => String(n).padStart(4);
  const rows = [...counts.entries()].sort(([, a], [, b]) => b.fail + notRun(b) - (a.fail + notRun(a)));
  return [
    `Per-stage results over ${repeat} runs (pass/fail/todo/skip/not run):`,
    ...rows.map(([key, c]) => `  ${column(c.pass)} ${column(c.fail)} ${column(c.todo)} ${column(c.skip)} ${column(notRun(c))}  ${key}`),
  ];
}
