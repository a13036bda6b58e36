// The per-stage table that `kvm-xen test --repeat N` prints: a flaky stage, a stage the test never
// reached after an early death, and a known gap each show in their own column; the worst come first.
import t from 'tap';

import { stageCountLines, suiteTotals, type TestOutcome } from '../selftests/suite';

type Result = TestOutcome['results'][number]['result'];

const outcome = (results: Array<[string, Result]>): TestOutcome => ({
  name: 'xen_demo_test',
  status: results.some(([, r]) => r === 'fail') ? 'fail' : 'pass',
  detail: '',
  results: results.map(([description, result]) => ({ description, result })),
});

t.test('three runs: one flaky stage, one cut short, one known gap', async (t) => {
  const lines = stageCountLines([
    outcome([['stage 0 A', 'pass'], ['stage 1 B', 'pass'], ['stage 2 C', 'pass'], ['gap', 'todo']]),
    // The second run died in stage 1: stage 2 and the gap were never reached.
    outcome([['stage 0 A', 'pass'], ['stage 1 B', 'fail']]),
    outcome([['stage 0 A', 'pass'], ['stage 1 B', 'pass'], ['stage 2 C', 'pass'], ['gap', 'todo']]),
  ], 3);
  t.equal(lines[0], 'Per-stage results over 3 runs (pass/fail/xfail/skip/not run):');
  const row = (name: string): number[] | undefined => {
    const line = lines.find((l) => l.endsWith(`xen_demo_test: ${name}`));
    return line?.trim().split(/\s+/).slice(0, 5).map(Number);
  };
  t.same(row('stage 0 A'), [3, 0, 0, 0, 0]);
  t.same(row('stage 1 B'), [2, 1, 0, 0, 0]);
  t.same(row('stage 2 C'), [2, 0, 0, 0, 1]);
  t.same(row('gap'), [0, 0, 2, 0, 1]);
  t.same(lines.slice(1, 4).map((l) => l.split(': ').pop()), ['stage 1 B', 'stage 2 C', 'gap'], 'failures and missing stages first, in stage order');
});

t.test('the Totals line counts every check of every test (as kunit.py does); a test without checks counts once', async (t) => {
  t.same(suiteTotals([
    outcome([['stage 0 A', 'pass'], ['stage 1 B', 'fail'], ['gap', 'todo']]),
    { name: 'xen_skipped_test', status: 'skip', detail: 'no Xen', results: [] },
    { name: 'xen_crashed_test', status: 'fail', detail: 'exit status 1', results: [] },
    // Killed after one of its three planned checks: the suite reports the other two as not run.
    { name: 'xen_killed_test', status: 'fail', detail: 'timed out', results: [{ description: 'x', result: 'pass' }], notRun: ['y', 'z'] },
  ]), { pass: 2, fail: 2, xfail: 1, skip: 1, error: 2 });
});
