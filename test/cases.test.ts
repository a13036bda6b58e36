// The in-VM tests' case records (helpers/cases.ts), as a runner that retried after a TCG flake leaves
// them: the failed attempt's output first, one case cut off in the middle, then the whole second run.
import t from 'tap';

import { parseCases } from './helpers/cases';

t.test('each case is its last complete record', async (t) => {
  const firstAttempt = '=== a\nfirst-a\n=== a status 1\n=== b\ncut off in the mid';
  const secondAttempt = '=== a\nsecond-a\n=== a status 0\n=== b\nwhole b\n=== b status 0\n';
  const cases = parseCases(`${firstAttempt}\n${secondAttempt}`);
  t.same(cases.get('a'), { output: 'second-a\n', status: 0 }, 'a: the second attempt\'s record');
  t.same(cases.get('b'), { output: 'whole b\n', status: 0 }, 'b: without the cut-off start before it');
  t.same([...cases.keys()], ['a', 'b']);
});
