// The TAP reader and the run comparison, on TAP text (pure functions: no KVM needed).
import t from 'tap';

import { compareRuns, formatComparison, isRegression } from '../lib/tap/compare';
import { outcomeOf, parseTap } from '../lib/tap/parse';

const suite = (shinfoStage5: string, gap: string): string => `KTAP version 1
1..2
  KTAP version 1
  1..2
  ok 1 stage 4 TEST_RUNSTATE_ADJUST
  # guest assertion failed at x.c:1: boom
  ${shinfoStage5}
  # Totals: pass:1 fail:1 xfail:0 xpass:0 skip:0 error:0
ok 1 xen_shinfo_test
  KTAP version 1
  1..1
  ${gap}
ok 2 xen_evtchn_setup_test
# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:0
`;

t.test('parses KTAP: nested subtests, directives, diagnostics before their result', async (t) => {
  const doc = parseTap(suite('not ok 2 stage 5 TEST_RUNSTATE_DATA', 'ok 1 timer set-up marks port 7 # XFAIL kernel does not restore'));
  t.equal(doc.version, 'KTAP version 1');
  t.equal(doc.plan?.end, 2);
  t.equal(doc.results.length, 2);
  const shinfo = doc.results[0]!.subtest!;
  t.equal(shinfo.version, 'KTAP version 1');
  t.equal(shinfo.results[1]!.description, 'stage 5 TEST_RUNSTATE_DATA');
  t.equal(outcomeOf(shinfo.results[1]!), 'fail');
  t.same(shinfo.results[1]!.diagnostics, ['guest assertion failed at x.c:1: boom']);
  t.same(shinfo.results[0]!.diagnostics, []);
  t.same(shinfo.comments, ['Totals: pass:1 fail:1 xfail:0 xpass:0 skip:0 error:0']);
  const gap = doc.results[1]!.subtest!.results[0]!;
  t.equal(gap.directive, 'XFAIL');
  t.equal(gap.ok, true, 'kselftest prints an expected failure as "ok"');
  t.equal(gap.reason, 'kernel does not restore');
  t.equal(outcomeOf(gap), 'todo');
  t.equal(parseTap('1..0 # SKIP no Xen').plan?.skipReason, 'no Xen');
  t.equal(parseTap('Bail out! stage 5 failed').bailOut, 'stage 5 failed');
});

t.test('KTAP directives: TIMEOUT and ERROR fail, SKIP on "not ok" skips, kselftest\'s "ok N # XFAIL name" form', async (t) => {
  const doc = parseTap(['KTAP version 1', '1..5', 'not ok 1 a # TIMEOUT 30 seconds', 'not ok 2 b # ERROR not run',
    'not ok 3 c # SKIP no device', 'ok 4 # XFAIL d', 'not ok 5 # error e'].join('\n'));
  t.same(doc.results.map((r) => [r.description, r.directive, r.reason, outcomeOf(r)]), [
    ['a', 'TIMEOUT', '30 seconds', 'fail'],
    ['b', 'ERROR', 'not run', 'fail'],
    ['c', 'SKIP', 'no device', 'skip'],
    ['', 'XFAIL', 'd', 'todo'],
    ['', 'ERROR', 'e', 'fail'],
  ]);
  t.same(parseTap('ok 1 check return code # rcode=0').results[0], {
    ok: true, number: 1, description: 'check return code', directive: undefined, reason: 'rcode=0', diagnostics: [], subtest: undefined,
  }, 'diagnostic data without a directive');
});

t.test('three levels of nesting, as in ktap.rst\'s example', async (t) => {
  const doc = parseTap(['KTAP version 1', '1..1', '  KTAP version 1', '  1..2', '    KTAP version 1', '    1..1', '    ok 1 test_1',
    '  ok 1 example_test_1', '    KTAP version 1', '    1..2', '    ok 1 test_1 # SKIP skipped', '    not ok 2 test_2',
    '  not ok 2 example_test_2', 'not ok 1 main_test'].join('\n'));
  const main = doc.results[0]!;
  t.equal(main.description, 'main_test');
  t.same(main.subtest!.results.map((r) => r.description), ['example_test_1', 'example_test_2']);
  t.same(main.subtest!.results[1]!.subtest!.results.map(outcomeOf), ['skip', 'fail']);
});

t.test('still reads TAP 13 nesting (four spaces under "# Subtest:")', async (t) => {
  const doc = parseTap('TAP version 13\n1..1\n# Subtest: x\n    TAP version 13\n    1..1\n    ok 1 y\nok 1 - x\n');
  t.equal(doc.results[0]!.description, 'x');
  t.equal(doc.results[0]!.subtest!.results[0]!.description, 'y');
});

t.test('compare puts differences first and flags what B fails but A passes', async (t) => {
  const a = parseTap(suite('ok 2 stage 5 TEST_RUNSTATE_DATA', 'ok 1 timer set-up marks port 7 # XFAIL kernel does not restore'));
  const b = parseTap(suite('not ok 2 stage 5 TEST_RUNSTATE_DATA', 'ok 1 timer set-up marks port 7'));
  const rows = compareRuns(a, b);
  t.same(rows.slice(0, 2).map((row) => [row.key, row.a, row.b]), [
    ['xen_shinfo_test: stage 5 TEST_RUNSTATE_DATA', 'pass', 'fail'],
    ['xen_evtchn_setup_test: timer set-up marks port 7', 'todo', 'pass'],
  ]);
  t.same(rows.filter(isRegression).map((row) => row.key), ['xen_shinfo_test: stage 5 TEST_RUNSTATE_DATA']);
  const table = formatComparison(rows, 'stock', 'patched');
  t.match(table, /stage 5 TEST_RUNSTATE_DATA\s+pass\s+fail\s+<< regression/);
  t.match(table, /\(fixed in B\)/);
});

t.test('stage lines with run-specific notes compare as the same line', async (t) => {
  const a = parseTap(suite('ok 2 stage 25 TEST_LOCKING_POLL_TIMEOUT (timer re-armed 2 times)', 'ok 1 x'));
  const b = parseTap(suite('ok 2 stage 25 TEST_LOCKING_POLL_TIMEOUT (optional sync point, not needed this run)', 'ok 1 x'));
  t.equal(compareRuns(a, b).filter((row) => row.a !== row.b).length, 0);
});
