// The TAP reader and the run comparison, on TAP text (pure functions: no KVM needed).
import t from 'tap';

import { compareRuns, formatComparison, isRegression } from '../lib/tap/compare';
import { outcomeOf, parseTap } from '../lib/tap/parse';

const suite = (shinfoStage5: string, gap: string): string => `TAP version 13
1..2
# Subtest: xen_shinfo_test
    TAP version 13
    1..2
    ok 1 stage 4 TEST_RUNSTATE_ADJUST
    ${shinfoStage5}
    # guest assertion failed at x.c:1: boom
ok 1 - xen_shinfo_test
# Subtest: xen_evtchn_setup_test
    TAP version 13
    1..1
    ${gap}
ok 2 - xen_evtchn_setup_test
# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:0
`;

t.test('parses nested subtests, directives and diagnostics', async (t) => {
  const doc = parseTap(suite('not ok 2 stage 5 TEST_RUNSTATE_DATA', 'not ok 1 timer set-up marks port 7 # TODO kernel does not restore'));
  t.equal(doc.plan?.end, 2);
  t.equal(doc.results.length, 2);
  const shinfo = doc.results[0]!.subtest!;
  t.equal(shinfo.results[1]!.description, 'stage 5 TEST_RUNSTATE_DATA');
  t.equal(outcomeOf(shinfo.results[1]!), 'fail');
  t.same(shinfo.results[1]!.diagnostics, ['guest assertion failed at x.c:1: boom']);
  const gap = doc.results[1]!.subtest!.results[0]!;
  t.equal(gap.directive, 'TODO');
  t.equal(outcomeOf(gap), 'todo');
  t.equal(parseTap('1..0 # SKIP no Xen').plan?.skipReason, 'no Xen');
  t.equal(parseTap('Bail out! stage 5 failed').bailOut, 'stage 5 failed');
});

t.test('compare puts differences first and flags what B fails but A passes', async (t) => {
  const a = parseTap(suite('ok 2 stage 5 TEST_RUNSTATE_DATA', 'not ok 1 timer set-up marks port 7 # TODO kernel does not restore'));
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
