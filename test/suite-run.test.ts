// test/helpers/suite-run.ts: what the comment of a retried suite run quotes from the first attempt.
import t from 'tap';

import { failureGist } from './helpers/suite-run';

const run = (stdout: string, stderr = ''): Parameters<typeof failureGist>[0] => ({ status: 1, signal: null, stdout, stderr, ms: 0 });

t.test('a test --vm run: the bail-out and the exit line, then the CLI\'s last lines', async (t) => {
  const stdout = ['KTAP version 1', '1..1', '  KTAP version 1', '  1..3', '  ok 1 stage 0 x', '  not ok 2 stage 5 TEST_RUNSTATE_DATA',
    '  not ok 3 stage 6 y # ERROR not reached: stage 5 TEST_RUNSTATE_DATA failed', '  Bail out! stage 5 TEST_RUNSTATE_DATA failed: guest assertion',
    '# xen_shinfo_test: exit status 1: stage 5 TEST_RUNSTATE_DATA failed: guest assertion', 'not ok 1 xen_shinfo_test'].join('\n');
  t.equal(failureGist(run(stdout, 'kvm-xen: loading kvm.ko\nconsole noise\nkvm-xen: done\n')),
    'Bail out! stage 5 TEST_RUNSTATE_DATA failed: guest assertion | # xen_shinfo_test: exit status 1: stage 5 TEST_RUNSTATE_DATA failed: guest assertion | kvm-xen: loading kvm.ko | kvm-xen: done');
});

t.test('a compare run: the failures under the table, not its rows', async (t) => {
  const stdout = ['test / stage   A     B', '-- same --', 'xen_shinfo_test: stage 16 TEST_TIMER_RESTORE   fail   fail', '', 'A: Debian', 'B: Debian',
    '', 'failures, as each column\'s tests reported them:', 'A: xen_shinfo_test: stage 16 TEST_TIMER_RESTORE failed: IRQ delivery timed out', 'no regressions'].join('\n');
  t.equal(failureGist(run(stdout)), 'A: xen_shinfo_test: stage 16 TEST_TIMER_RESTORE failed: IRQ delivery timed out');
});
