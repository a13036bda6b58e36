// KCIDB output (`kvm-xen test --json`, `compare --json`) checked against KCIDB's own schema, v5.3 as
// kernelci/kcidb-io defines it (test/data/README.md says how it was exported), with Ajv: first the
// mapping on hand-written TAP, then real runs — this machine (where the Xen tests skip), Debian's 6.12
// in a VM, and a comparison of that kernel with and without our KVM patch (three boots in all).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import t from 'tap';

import { buildKvmModules } from '../lib/kbuild';
import { kcidbReport, pathPart, TimedLines, type KcidbReport, type KcidbTest } from '../lib/kcidb';
import { projectRoot } from '../lib/paths';
import { parseTap } from '../lib/tap/parse';
import { passes, runSuiteCli } from './helpers/suite-run';
import { runCli } from './helpers/vm';

const schema = JSON.parse(fs.readFileSync(path.join(projectRoot, 'test', 'data', 'kcidb-v05.03.schema.json'), 'utf8')) as object;
const ajv = new Ajv({ allErrors: true });
addFormats(ajv);
const validate = ajv.compile(schema);

function schemaErrors(data: unknown): string {
  return validate(data) ? '' : ajv.errorsText(validate.errors, { separator: '\n' });
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-kcidb-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** What the runner said went wrong, and the end of stderr. */
function why(stderr: string): string {
  const runner = stderr.split('\n').filter((line) => line.startsWith('kvm-xen vm:')).join(' / ');
  return `${runner} … ${stderr.trim().slice(-300)}`;
}

/** Result lines in a TAP stream, at any depth: one KCIDB test each. */
function resultLines(tap: string): number {
  return tap.split('\n').filter((line) => /^\s*(not )?ok\b/.test(line)).length;
}

const byPath = (report: KcidbReport, p: string): KcidbTest[] => report.tests.filter((test) => test.path === p);

// KTAP v1 as `kvm-xen test` prints it: a failure, a check that never ran, the known gap, a skip.
const SAMPLE = `KTAP version 1
1..3
  KTAP version 1
  1..3
  ok 1 stage 0 TEST_INJECT_VECTOR
  # IRQ delivery timed out
  not ok 2 stage 7 TEST_EVTCHN_MASKED
  not ok 3 planned check 3 # ERROR not run: xen_shinfo_test ended first (exit status 1)
# xen_shinfo_test: exit status 1
not ok 1 xen_shinfo_test
  KTAP version 1
  1..1
  ok 1 timer set-up marks port 7 # XFAIL kernel does not restore pending event-channel index bits
ok 2 xen_evtchn_setup_test
ok 3 xen_poll_test # SKIP no Xen
`;

t.test('the mapping: paths, statuses, the known gap as a triaged failure', async (t) => {
  const report = kcidbReport(parseTap(SAMPLE), { runId: 'r1', startTime: new Date('2026-12-01T10:00:00Z'), kernel: 'Debian 6.12.117', treeName: 'debian', kvmModules: { dir: '/m', digest: 'ab' } });
  t.equal(schemaErrors(report), '', 'valid KCIDB v5.3');
  t.same(report.tests.map((test) => [test.path, test.status]), [
    ['kvm_xen.xen_shinfo_test.stage_0_TEST_INJECT_VECTOR', 'PASS'],
    ['kvm_xen.xen_shinfo_test.stage_7_TEST_EVTCHN_MASKED', 'FAIL'],
    ['kvm_xen.xen_shinfo_test.planned_check_3', 'ERROR'],
    ['kvm_xen.xen_shinfo_test', 'FAIL'],
    ['kvm_xen.xen_evtchn_setup_test.timer_set-up_marks_port_7', 'FAIL'],
    ['kvm_xen.xen_evtchn_setup_test', 'PASS'],
    ['kvm_xen.xen_poll_test', 'SKIP'],
  ]);
  t.equal(report.tests[1]!.log_excerpt, 'stage 7 TEST_EVTCHN_MASKED\nIRQ delivery timed out', 'a failure carries its diagnostics');
  t.equal(report.tests[3]!.log_excerpt, 'xen_shinfo_test\nxen_shinfo_test: exit status 1');
  const gap = report.tests[4]!;
  t.equal(gap.misc?.['expected_fail'], true);
  t.equal(gap.misc?.['directive'], 'XFAIL');
  t.equal(report.issues.length, 1, 'one issue for the known gap');
  t.equal(report.issues[0]!.comment, 'kernel does not restore pending event-channel index bits');
  t.same(report.issues[0]!.culprit, { code: true, tool: false, harness: false }, 'the kernel is the culprit, not the test or the harness');
  t.same(report.incidents.map((i) => [i.test_id, i.issue_id]), [[gap.id, report.issues[0]!.id]], 'the gap\'s test is an incident of it');
  t.equal(new Set(report.tests.map((test) => test.id)).size, report.tests.length, 'test ids are unique');
  t.equal(report.builds[0]!.checkout_id, report.checkouts[0]!.id);
  t.ok(report.tests.every((test) => test.build_id === report.builds[0]!.id));
  t.equal(report.tests[0]!.duration, undefined, 'no timings given, none made up');
});

t.test('path parts and repeated runs', async (t) => {
  t.equal(pathPart('stage 7 TEST_EVTCHN_MASKED', 1), 'stage_7_TEST_EVTCHN_MASKED');
  t.equal(pathPart('final: wall clock & pvclock', 1), 'final_wall_clock_pvclock');
  t.equal(pathPart(' ?! ', 3), 'test_3');
  const tap = 'KTAP version 1\n1..2\nok 1 xen_poll_test (run 1/2)\nok 2 xen_poll_test (run 2/2)\n';
  const report = kcidbReport(parseTap(tap), { runId: 'r', startTime: new Date(0), kernel: 'k' });
  t.same(report.tests.map((test) => [test.path, test.misc?.['run']]), [['kvm_xen.xen_poll_test', '1/2'], ['kvm_xen.xen_poll_test', '2/2']]);
  t.equal(schemaErrors(report), '');
});

t.test('timings: each result from the end of the one before it at its level, or from the last less indented line', async (t) => {
  let now = 1000;
  const lines = new TimedLines(() => now);
  const at = (ms: number, text: string): void => { now = 1000 + ms; lines.write(text); };
  at(0, 'KTAP version 1\n1..2\n  KTAP version 1\n  1..2\n');
  at(100, '  ok 1 first\n');
  at(300, '  ok 2 sec');          // a line arrives in two pieces: it counts when it ends
  at(350, 'ond\nok 1 a\n  KTAP version 1\n  1..0 # SKIP nothing\n');
  at(1000, 'ok 2 b # SKIP nothing\n');
  t.same(lines.resultTimings(), [
    { startS: 0, durationS: 0.1 },
    { startS: 0.1, durationS: 0.25 },
    { startS: 0, durationS: 0.35 },
    { startS: 0.35, durationS: 0.65 },
  ]);
  const report = kcidbReport(parseTap(lines.output), { runId: 'r', startTime: new Date('2026-12-01T10:00:00Z'), kernel: 'k', timings: lines.resultTimings() });
  t.same(report.tests.map((test) => [test.path, test.start_time, test.duration]), [
    ['kvm_xen.a.first', '2026-12-01T10:00:00.000Z', 0.1],
    ['kvm_xen.a.second', '2026-12-01T10:00:00.100Z', 0.25],
    ['kvm_xen.a', '2026-12-01T10:00:00.000Z', 0.35],
    ['kvm_xen.b', '2026-12-01T10:00:00.350Z', 0.65],
  ]);
  lines.reset();
  t.equal(lines.output, '');
  t.same(lines.resultTimings(), []);
});

t.test('the schema check rejects what KCIDB would', async (t) => {
  const good = kcidbReport(parseTap(SAMPLE), { runId: 'r', startTime: new Date(0), kernel: 'k' });
  t.equal(schemaErrors(good), '');
  const broken = (change: (report: KcidbReport) => void): string => {
    const copy = JSON.parse(JSON.stringify(good)) as KcidbReport;
    change(copy);
    return schemaErrors(copy);
  };
  t.match(broken((r) => { (r.tests[0] as { status: string }).status = 'XFAIL'; }), /status/, 'a status outside the schema');
  t.match(broken((r) => { r.tests[0]!.path = 'kvm_xen.stage 7'; }), /path/, 'a path with a space');
  t.match(broken((r) => { delete (r.tests[0] as Partial<KcidbTest>).build_id; }), /build_id/, 'a test without its build');
  t.match(broken((r) => { r.version.minor = 4; }), /minor/, 'a newer minor version');
  t.match(broken((r) => { r.tests[0]!.start_time = 'yesterday'; }), /date-time/, 'formats are checked');
});

t.test('kvm-xen test --json on this machine', async (t) => {
  const file = path.join(tmp, 'host.json');
  const run = await runCli(['test', '--json', file]);
  t.ok([0, 1, 4].includes(run.status ?? -1), `kselftest status (${run.status})`);
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as KcidbReport;
  t.equal(schemaErrors(report), '', 'valid KCIDB v5.3');
  t.equal(report.tests.length, resultLines(run.stdout), 'one test per TAP result line');
  t.ok(report.tests.every((test) => typeof test.duration === 'number'), 'every test has its duration');
  t.equal(report.checkouts.length, 1);
  t.match(report.checkouts[0]!.comment, new RegExp(`this machine's kernel ${os.release().replace(/[.+]/g, '\\$&')}`));
});

t.test('--json without a file is a usage error', async (t) => {
  const run = await runCli(['test', '--json']);
  t.equal(run.status, 64);
  t.match(run.stderr, /--json needs a file name/);
});

const GAP_TESTS = ['xen_evtchn_setup_test', 'xen_migration_test', 'xen_guest_migration_test'];

t.test('kvm-xen test --vm --json on Debian 6.12: real results, valid, timed, the known gap triaged', async (t) => {
  const file = path.join(tmp, 'vm.json');
  const run = await runSuiteCli(t, ['test', '--vm', '--timeout', '900', '--json', file], passes);
  t.equal(run.status, 0, `suite status (stderr: ${why(run.stderr)})`);
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as KcidbReport;
  t.equal(schemaErrors(report), '', 'valid KCIDB v5.3');
  t.equal(report.tests.length, resultLines(run.stdout), 'one test per TAP result line');
  t.match(report.checkouts[0], { tree_name: 'debian', comment: /^Debian 6\.12\./ });

  const masked = byPath(report, 'kvm_xen.xen_shinfo_test.stage_7_TEST_EVTCHN_MASKED');
  t.equal(masked.length, 1, 'stage 7 of xen_shinfo_test has its path');
  t.equal(masked[0]?.status, 'PASS');

  const gaps = report.tests.filter((test) => test.misc?.['expected_fail'] === true);
  t.ok(gaps.length > 0, `the stock kernel shows the known gap (${gaps.length} tests)`);
  for (const gap of gaps) {
    t.equal(gap.status, 'FAIL', `${gap.path}: FAIL`);
    t.ok(GAP_TESTS.some((name) => gap.path.startsWith(`kvm_xen.${name}.`)), `${gap.path} is one of the new checks`);
    t.ok(report.incidents.some((incident) => incident.test_id === gap.id && report.issues.some((issue) => issue.id === incident.issue_id)), `${gap.path} is an incident of a known issue`);
  }
  const others = report.tests.filter((test) => test.status !== 'PASS' && test.misc?.['expected_fail'] !== true);
  t.same(others.map((test) => `${test.path}: ${test.status}`), [], 'nothing else fails');

  // A check that never ran (ERROR) has no time of its own; every other test has one.
  for (const test of report.tests.filter((each) => each.status !== 'ERROR')) {
    t.ok(typeof test.duration === 'number' && test.duration >= 0, `${test.path} has a duration`);
  }
  for (const parent of report.tests.filter((test) => test.path.split('.').length === 2)) {
    const stages = report.tests.filter((test) => test.path.startsWith(`${parent.path}.`));
    const sum = stages.reduce((total, test) => total + (test.duration ?? 0), 0);
    t.ok(sum <= parent.duration! + 0.01, `${parent.path}: its stages (${sum.toFixed(3)} s) fit in its ${parent.duration} s`);
  }
  const shinfo = byPath(report, 'kvm_xen.xen_shinfo_test')[0];
  t.ok(shinfo && shinfo.duration! > 0.5, `xen_shinfo_test took measurable time (${shinfo?.duration} s)`);
});

t.test('kvm-xen compare --json: stock against patched KVM modules, the gap goes from FAIL to PASS', async (t) => {
  const patch = path.join(projectRoot, 'kernel', fs.readdirSync(path.join(projectRoot, 'kernel')).find((f) => f.endsWith('.patch'))!);
  const modules = await buildKvmModules({ patches: [patch] });
  const file = path.join(tmp, 'compare.json');
  const run = await runSuiteCli(t, ['compare', '--kernel', 'debian', '--kernel', 'debian', '--kvm-modules', modules.dir, '--timeout', '900', '--json', file, '--', ...GAP_TESTS], passes);
  t.equal(run.status, 0, `no regression (stderr: ${why(run.stderr)})`);
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as KcidbReport;
  t.equal(schemaErrors(report), '', 'valid KCIDB v5.3');
  t.equal(report.checkouts.length, 1, 'one kernel source');
  t.equal(report.builds.length, 2, 'two builds: its own KVM modules and ours');
  const [stock, patched] = report.builds;
  t.match(patched?.misc, { kvm_modules: modules.dir });
  const on = (build: string | undefined, test: KcidbTest): boolean => test.build_id === build;
  const stockGaps = report.tests.filter((test) => on(stock?.id, test) && test.misc?.['expected_fail'] === true);
  t.ok(stockGaps.length > 0, 'the stock build has the gap');
  for (const gap of stockGaps) {
    const after = report.tests.find((test) => on(patched?.id, test) && test.path === gap.path);
    t.equal(after?.status, 'PASS', `${gap.path}: FAIL on the stock build, PASS on the patched one`);
  }
  t.equal(report.incidents.length, stockGaps.length, 'incidents only where the gap is');
});
