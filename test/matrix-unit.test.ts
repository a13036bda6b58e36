// The matrix's pure parts: columns as a cross product, the table's order (regressions, then other
// differences, then rows alike), --repeat counts, and the column pool. The real run is matrix-vm.test.ts.
import t from 'tap';

import { parseMatrixArgs } from '../bin/commands/compare';
import { columnVmOptions } from '../bin/kvm-params';
import { buildMatrix, columnName, columnsWithFailures, failureReasons, formatMatrix, formatReasons, matrixColumns, parameterAxes, regressedColumns, runPool } from '../lib/matrix';
import { parseTap } from '../lib/tap/parse';

/** A suite run of xen_shinfo_test with these stage lines (KTAP, as the suite prints it). */
function run(lines: string[], description = 'xen_shinfo_test'): string {
  const failed = lines.some((line) => line.startsWith('not ok'));
  return ['KTAP version 1', '1..1', '  KTAP version 1', `  1..${lines.length}`, ...lines.map((line) => `  ${line}`), `${failed ? 'not ok' : 'ok'} 1 ${description}`].join('\n');
}

/** --repeat N: the same test N times, "(run i/N)". */
function repeated(runs: string[][]): string {
  const body = runs.flatMap((lines, index) => run(lines, `xen_shinfo_test (run ${index + 1}/${runs.length})`).split('\n').slice(2));
  return ['KTAP version 1', `1..${runs.length}`, ...body].join('\n');
}

t.test('columns: kernel builds crossed with each parameter axis', async (t) => {
  t.same(parameterAxes(['kvm_amd.avic=0', 'kvm.halt_poll_ns=0', 'kvm_amd.avic=1', 'kvm_amd.avic=0']), [['kvm_amd.avic=0', 'kvm_amd.avic=1'], ['kvm.halt_poll_ns=0']]);
  const columns = matrixColumns([{ kernel: 'debian:6.12.107' }, { kernel: 'debian', kvmModules: '/m' }], ['kvm_amd.avic=0', 'kvm_amd.avic=1']);
  t.same(columns.map((c) => [c.kernel, c.kvmModules, c.kvmParams]), [
    ['debian:6.12.107', undefined, ['kvm_amd.avic=0']], ['debian:6.12.107', undefined, ['kvm_amd.avic=1']],
    ['debian', '/m', ['kvm_amd.avic=0']], ['debian', '/m', ['kvm_amd.avic=1']],
  ]);
  t.equal(matrixColumns([{ kernel: 'debian' }], ['a.b=1', 'a.b=2', 'c.d=1', 'c.d=2', 'c.d=3']).length, 6, '2 x 3');
  t.throws(() => matrixColumns([{ kernel: 'debian' }], ['avic=1']), RangeError);
  t.same([0, 1, 25, 26, 27].map(columnName), ['A', 'B', 'Z', 'AA', 'AB']);
});

t.test('compare arguments: --kvm-modules after a --kernel (stock for its own), at least two columns', async (t) => {
  const { columns, jobs } = parseMatrixArgs(['--kernel', 'debian', '--kvm-modules', 'stock', '--kvm-modules', '/tmp', '--kernel', 'debian:6.12.107', '--jobs', '2']);
  t.same(columns.map((c) => [c.kernel, c.kvmModules]), [['debian', undefined], ['debian', '/tmp'], ['debian:6.12.107', undefined]]);
  t.equal(jobs, 2);
  // The old two-kernel form reads as before: B is debian with the modules.
  t.same(parseMatrixArgs(['--kernel', 'debian', '--kernel', 'debian', '--kvm-modules', '/tmp']).columns.map((c) => c.kvmModules), [undefined, '/tmp']);
  t.throws(() => parseMatrixArgs(['--kernel', 'debian']), /at least two columns/);
  t.throws(() => parseMatrixArgs(['--kernel', 'debian', '--kernel', 'debian', '--jobs', 'x']), /--jobs needs a positive integer/);
  t.throws(() => parseMatrixArgs(['--kernel', 'debian', '--kernel', 'debian', '--', 'nosuchtest']), /unknown selftest/);
  // A parameter axis: one kernel, two values of kvm.force_emulation_prefix, two columns with the runner's kvmParams.
  const axis = parseMatrixArgs(['--kvm-param', 'kvm.force_emulation_prefix=0', '--kvm-param', 'kvm.force_emulation_prefix=1']).columns;
  t.same(axis.map((c) => [c.kernel, c.kvmParams]), [['debian', ['kvm.force_emulation_prefix=0']], ['debian', ['kvm.force_emulation_prefix=1']]]);
  t.same(columnVmOptions(axis[1]!).kvmParams, [{ module: 'kvm', name: 'force_emulation_prefix', value: '1' }]);
  t.throws(() => parseMatrixArgs(['--kvm-param', 'kvm.x=a b', '--kvm-param', 'kvm.x=1']), /--kvm-param: .*printable ASCII without spaces/);
});

t.test('the table: regressions first, then other differences, then rows alike; exit-worthy columns named', async (t) => {
  const a = parseTap(run(['ok 1 stage 0 TEST_INJECT_VECTOR', 'ok 2 stage 5 TEST_RUNSTATE_DATA', 'ok 3 gap # XFAIL known', 'ok 4 stage 9 x']));
  const b = parseTap(run(['ok 1 stage 0 TEST_INJECT_VECTOR', 'ok 2 stage 5 TEST_RUNSTATE_DATA', 'ok 3 gap', 'ok 4 stage 9 x']));
  const c = parseTap(run(['ok 1 stage 0 TEST_INJECT_VECTOR', 'ok 2 stage 5 TEST_RUNSTATE_DATA', 'ok 3 gap # XFAIL known', 'not ok 4 stage 9 x']));
  const rows = buildMatrix([a, b, c]);
  t.same(rows.map((row) => row.key), [
    'xen_shinfo_test: stage 9 x', 'xen_shinfo_test: gap', 'xen_shinfo_test',
    'xen_shinfo_test: stage 0 TEST_INJECT_VECTOR', 'xen_shinfo_test: stage 5 TEST_RUNSTATE_DATA',
  ], 'the stage C fails first; then the gap B fixed and the test line only C printed (failed); then the rest in suite order');
  t.same(regressedColumns(rows[0]!), [2]);
  t.same(regressedColumns(rows[2]!), [], 'fixing a known gap is no regression');
  const table = formatMatrix(rows, ['A', 'B', 'C'], ['stock', 'fixed', 'broken']);
  const lines = table.split('\n');
  t.match(lines[0], /^test \/ stage\s+A\s+B\s+C$/);
  t.equal(lines[1], '-- differences --');
  t.match(lines[2], /^xen_shinfo_test: stage 9 x\s+pass\s+pass\s+fail\s+<< fails in C$/);
  t.ok(lines.indexOf('-- same --') > 3, 'the rows alike come after the differences');
  t.match(table, /\nA: stock\nB: fixed\nC: broken\n$/);
});

t.test('--repeat: each cell counts its outcomes; a flaky column is a difference', async (t) => {
  const steady = parseTap(repeated([['ok 1 s'], ['ok 1 s'], ['ok 1 s']]));
  const flaky = parseTap(repeated([['ok 1 s'], ['not ok 1 s'], ['ok 1 s']]));
  const rows = buildMatrix([steady, flaky]);
  const stage = rows.find((row) => row.key === 'xen_shinfo_test: s')!;
  t.same(regressedColumns(stage), [1], 'B failed once what A passed every time');
  t.match(formatMatrix(rows, ['A', 'B'], ['a', 'b']), /xen_shinfo_test: s\s+3 pass\s+2 pass 1 fail\s+<< fails in B/);
  const missing = buildMatrix([steady, parseTap(repeated([[], [], []]))]).find((row) => row.key === 'xen_shinfo_test: s')!;
  t.same(missing.cells[1], new Map([['missing', 3]]), 'a row a column never printed counts as missing once per run');
});

t.test('under the table, what each failing test reported: its bail-out, else its last diagnostic', async (t) => {
  const bailed = parseTap(['KTAP version 1', '1..2', '  KTAP version 1', '  1..2', '  ok 1 stage 0 x', '  not ok 2 stage 16 TEST_TIMER_RESTORE',
    '  Bail out! stage 16 TEST_TIMER_RESTORE failed: IRQ delivery timed out', 'not ok 1 xen_shinfo_test',
    '# xen_evtchn_setup_test: exit status 134: killed by SIGABRT', 'not ok 2 xen_evtchn_setup_test', 'ok 3 other'].join('\n'));
  t.same(failureReasons(bailed), ['xen_shinfo_test: stage 16 TEST_TIMER_RESTORE failed: IRQ delivery timed out', 'xen_evtchn_setup_test: exit status 134: killed by SIGABRT']);
  const flaky = parseTap(repeated([['not ok 1 s'], ['ok 1 s'], ['not ok 1 s']]));
  t.same(failureReasons(flaky), ['xen_shinfo_test'], 'a failure seen in two runs is one line, without its run number');
  const passed = parseTap(run(['ok 1 s', 'ok 2 gap # XFAIL known']));
  t.same(failureReasons(passed), [], 'an expected failure is no failure');
  t.equal(formatReasons([passed, passed], ['A', 'B']), '', 'no section when nothing failed');
  t.equal(formatReasons([passed, bailed], ['A', 'B']),
    '\nfailures, as each column\'s tests reported them:\nB: xen_shinfo_test: stage 16 TEST_TIMER_RESTORE failed: IRQ delivery timed out\nB: xen_evtchn_setup_test: exit status 134: killed by SIGABRT\n');
  const many = parseTap(['KTAP version 1', '1..7', ...[1, 2, 3, 4, 5, 6, 7].map((n) => `not ok ${n} t${n}`)].join('\n'));
  t.same(failureReasons(many).slice(-2), ['t5', '... and 2 more'], 'five lines at most');
  const output = `${formatMatrix(buildMatrix([passed, bailed]), ['A', 'B'], ['a', 'b'])}${formatReasons([passed, bailed], ['A', 'B'])}no regressions\n`;
  t.same(columnsWithFailures(output), ['B'], 'read back: B, once; the legend\'s "A: a" is not a failure');
  t.same(columnsWithFailures(formatMatrix(buildMatrix([passed, passed]), ['A', 'B'], ['a', 'b'])), [], 'no section, no column');
});

t.test('runPool runs at most `jobs` at a time and keeps the order', async (t) => {
  let running = 0;
  let most = 0;
  const results = await runPool([30, 10, 20, 5, 15], 2, async (ms, index) => {
    most = Math.max(most, ++running);
    await new Promise((resolve) => setTimeout(resolve, ms));
    running--;
    return index * 10;
  });
  t.same(results, [0, 10, 20, 30, 40]);
  t.equal(most, 2);
  await t.rejects(runPool([1], 0, async () => 1), RangeError);
});
