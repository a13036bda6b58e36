// The suite's framing of its tests, with stand-in test programs that end every way a real one can:
// passing with a known gap, failing with the rest reported as not run, dying mid-plan, hanging until the
// timeout, skipping. The KTAP must stay whole (a subtest for each, numbered, its plan kept by the suite
// where the test could not) and kunit.py must count exactly what our Totals line says.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import { parseTap } from '../lib/tap/parse';
import { resolveKernel } from '../lib/vm';
import { runSuite, type SelftestEntry } from '../selftests/suite';
import { expectedKunitCounts, kunitParse, kunitTool, suiteTotalsLine } from './helpers/kunit';

const ksft = JSON.stringify(path.join(__dirname, '..', 'selftests', 'lib', 'ksft.js'));

/** Stand-in selftests, each a few lines of the real kselftest writer (or none, for the crash). */
const programs: Record<string, string> = {
  gap_test: `require(${ksft}).selftestMain(async (tap) => { tap.plan(['a', 'b']); tap.pass('a'); tap.knownFailure('b', 'kernel gap'); });`,
  failing_test: `const k = require(${ksft}); k.selftestMain(async (tap) => { tap.plan(['a', 'b', 'c']); tap.fail('a', ['boom']); throw new k.TestFailure('a failed'); });`,
  dying_test: `process.stdout.write('KTAP version 1\\n1..3\\nok 1 a\\n'); setTimeout(() => process.exit(1), 50);`,
  hanging_test: `process.stdout.write('KTAP version 1\\n1..2\\nok 1 a\\n'); setInterval(() => {}, 1000);`,
  skipping_test: `const k = require(${ksft}); k.selftestMain(async () => { throw new k.TestSkip('no Xen here'); });`,
};

let dir: string;
let tests: SelftestEntry[];
t.before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-suite-ktap-'));
  tests = Object.entries(programs).map(([name, source]) => {
    const script = path.join(dir, `${name}.js`);
    fs.writeFileSync(script, source);
    return { name, summary: name, script };
  });
});
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

async function suite(only: string[] = []): Promise<{ status: number; text: string }> {
  let text = '';
  const status = await runSuite({ tests, only, timeoutMs: 3000, out: { write: (chunk: string) => { text += chunk; } } });
  return { status, text };
}

t.test('every way a test ends, in KTAP that kunit.py reads with our counts', async (t) => {
  const { status, text } = await suite();
  t.equal(status, 1);
  const doc = parseTap(text);
  t.same(doc.results.map((r) => [r.number, r.description, r.ok, r.directive]), [
    [1, 'gap_test', true, undefined],
    [2, 'failing_test', false, undefined],
    [3, 'dying_test', false, undefined],
    [4, 'hanging_test', false, undefined],
    [5, 'skipping_test', true, 'SKIP'],
  ]);
  const lines = (n: number): string[] => doc.results[n]!.subtest!.results.map((r) => `${r.ok ? 'ok' : 'not ok'} ${r.number} ${r.description}${r.directive ? ` # ${r.directive}` : ''}`);
  t.same(lines(0), ['ok 1 a', 'ok 2 b # XFAIL']);
  t.same(lines(1), ['not ok 1 a', 'not ok 2 b # ERROR', 'not ok 3 c # ERROR'], 'the failing test names what it did not run');
  t.same(lines(2), ['ok 1 a', 'not ok 2 planned check 2 # ERROR', 'not ok 3 planned check 3 # ERROR'], 'the suite keeps the plan of a test that died');
  t.same(lines(3), ['ok 1 a', 'not ok 2 planned check 2 # ERROR']);
  t.match(text, /^# hanging_test: timed out after 3 s\nnot ok 4 hanging_test$/m);
  t.match(text, /^# dying_test: exit status 1\nnot ok 3 dying_test$/m);
  const totals = suiteTotalsLine(text);
  t.same(totals, { pass: 3, fail: 1, xfail: 1, xpass: 0, skip: 1, error: 5 });

  const tool = await kunitTool((await resolveKernel('debian')).debianVersion!);
  const parsed = kunitParse(tool, text);
  t.comment(`kunit.py parse: ${parsed.summary}`);
  const { total: _total, ...counts } = parsed.counts;
  if (!t.same(counts, expectedKunitCounts(totals!), 'kunit.py: no errors, nothing crashed, our counts')) t.comment(parsed.output);
});

t.test('--repeat: the per-stage table counts lines a test never ran as not run', async (t) => {
  let text = '';
  await runSuite({ tests, only: ['failing_test'], repeat: 2, out: { write: (chunk: string) => { text += chunk; } } });
  t.match(text, /^# +0 +2 +0 +0 +0  failing_test: a$/m);
  t.match(text, /^# +0 +0 +0 +0 +2  failing_test: (b|c)$/m);
});
