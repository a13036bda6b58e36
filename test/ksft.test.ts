// The selftests' KTAP writer on its own: a test that ends early reports every planned check it did not
// reach as not run (by name when the plan has names), and a plan not kept fails the test.
import t from 'tap';

import { KSFT_FAIL, KSFT_PASS, runSelftest, TestFailure } from '../selftests/lib/ksft';

async function run(main: Parameters<typeof runSelftest>[0]): Promise<{ code: number; lines: string[] }> {
  let text = '';
  const code = await runSelftest(main, { out: { write: (chunk: string) => { text += chunk; return true; } } });
  return { code, lines: text.trimEnd().split('\n') };
}

t.test('a test that fails in its second of four checks: the other two are not run, by name', async (t) => {
  const { code, lines } = await run(async (tap) => {
    tap.plan(['one', 'two', 'three', 'four']);
    tap.pass('one');
    tap.fail('two', ['why']);
    throw new TestFailure('two failed');
  });
  t.equal(code, KSFT_FAIL);
  t.same(lines, [
    'KTAP version 1', '1..4', 'ok 1 one', '# why', 'not ok 2 two',
    'not ok 3 three # ERROR not reached: two failed', 'not ok 4 four # ERROR not reached: two failed',
    'Bail out! two failed', '# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:0 error:2',
  ]);
});

t.test('a test that returns having reported fewer checks than planned fails, as ksft_finished() would', async (t) => {
  const { code, lines } = await run(async (tap) => {
    tap.plan(2);
    tap.pass('one');
  });
  t.equal(code, KSFT_FAIL);
  t.ok(lines.includes('# Planned tests != run tests (2 != 1)'), lines.join('\n'));
});

t.test('a test that fails before its plan declares an empty one, so the subtest ends where it should', async (t) => {
  const { code, lines } = await run(async () => { throw new TestFailure('no device'); });
  t.equal(code, KSFT_FAIL);
  t.same(lines.slice(0, 3), ['KTAP version 1', '1..0', 'Bail out! no device']);
});

t.test('all planned checks reported: pass', async (t) => {
  const { code } = await run(async (tap) => {
    tap.plan(['a']);
    tap.knownFailure('a', 'kernel gap');
  });
  t.equal(code, KSFT_PASS);
});
