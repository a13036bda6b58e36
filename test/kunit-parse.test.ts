// The kernel's own KTAP parser (kunit.py parse, from linux-source-6.12) reads what `kvm-xen test`
// prints: 0 errors, 0 crashed, and the same counts as our Totals line. Here on this host's /dev/kvm
// (no Xen: every test skips) and on the whole gamut of our result lines; test/xen-suite.test.ts does the
// same with the suite's real output from inside a VM, stock and patched.
import t from 'tap';

import { resolveKernel } from '../lib/vm';
import { expectedKunitCounts, kunitParse, kunitTool, suiteTotalsLine } from './helpers/kunit';
import { runCli } from './helpers/vm';
import { Tap } from '../selftests/lib/ksft';

let tool: string;
t.before(async () => {
  const kernel = await resolveKernel('debian');
  tool = await kunitTool(kernel.debianVersion!);
});

t.test('kunit.py parse on `kvm-xen test` here: no errors, our counts', async (t) => {
  const run = await runCli(['test']);
  const totals = suiteTotalsLine(run.stdout);
  t.ok(totals, 'a Totals line');
  const parsed = kunitParse(tool, run.stdout);
  t.comment(parsed.summary);
  t.match(parsed.summary, /^Testing complete\. Ran \d+ tests/);
  const { total: _total, ...counts } = parsed.counts;
  if (!t.same(counts, expectedKunitCounts(totals!), 'kunit.py counts what our Totals line says')) t.comment(parsed.output);
});

t.test('kunit.py parse on every kind of line a test prints: pass, fail, skip, XFAIL, not run, a plan not kept', async (t) => {
  let text = '';
  const out = { write: (chunk: string) => { text += chunk; return true; } };
  const tap = new Tap({ out });
  tap.plan(6);
  tap.pass('a check that passes');
  tap.fail('a check that fails', ['why it failed']);
  tap.skip('a check that skips', 'the kernel lacks X');
  tap.knownFailure('a known kernel gap', 'kernel lacks the fix', ['what was seen']);
  tap.notRunRest('not reached: the test ended');
  tap.printTotals();
  t.match(text, /^ok 4 a known kernel gap # XFAIL kernel lacks the fix$/m, 'kselftest\'s expected failure');
  t.match(text, /^not ok 5 planned check 5 # ERROR not reached: the test ended$/m);
  const parsed = kunitParse(tool, text);
  t.comment(parsed.summary);
  if (!t.same(parsed.counts, { total: 6, passed: 2, failed: 3, crashed: 0, skipped: 1, errors: 0 })) t.comment(parsed.output);
  t.same(expectedKunitCounts(suiteTotalsLine(text)!), { passed: 2, failed: 3, crashed: 0, skipped: 1, errors: 0 });
});

t.test('KTAP descriptions cannot hold "#": the Tap refuses them', async (t) => {
  const tap = new Tap({ out: { write: () => true } });
  t.throws(() => tap.pass('port #7'), RangeError);
});
