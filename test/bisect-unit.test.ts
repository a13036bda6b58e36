// The bisect's pure parts with fake verdicts: the binary search finds the first differing item with
// 1 + about log2(n + 1) judgements wherever it is, steps around items it cannot judge, and says so
// when they hide the answer; a run's verdict and the git bisect run status; the versions walked.
import t from 'tap';

import { confirmedJudgement, firstDiffering, GIT_BISECT_ABORT, gitBisectAbort, gitBisectStatus, judgeRun, resolveStage, versionsBetween, type Judgement } from '../lib/bisect';

const KTAP = (stageLine: string, status: 'ok' | 'not ok'): string =>
  ['KTAP version 1', '1..1', '  KTAP version 1', '  1..2', '  ok 1 stage 0 TEST_INJECT_VECTOR', `  ${stageLine}`, `${status} 1 xen_shinfo_test`].join('\n');

t.test('the first differing item, wherever it is, in at most ceil(log2(n + 1)) judgements', async (t) => {
  for (const n of [1, 2, 3, 4, 7, 8, 20]) {
    for (let first = 1; first <= n + 1; first++) {  // n + 1: no item differs
      const asked: number[] = [];
      const result = await firstDiffering(n, async (item) => { asked.push(item); return item >= first ? 'differs' : 'same'; });
      t.equal(result.first, first <= n ? first : undefined, `n=${n} first=${first}`);
      t.ok(asked.length <= Math.ceil(Math.log2(n + 1)), `n=${n} first=${first}: ${asked.length} judgements`);
      t.equal(new Set(asked).size, asked.length, 'no item judged twice');
    }
  }
});

t.test('four patches, the third differs: patches 2 and 3 judged, nothing else', async (t) => {
  const result = await firstDiffering(4, async (item) => (item >= 3 ? 'differs' : 'same'));
  t.same(result.judged, [{ item: 2, judgement: 'same' }, { item: 3, judgement: 'differs' }]);
  t.equal(result.first, 3);
});

t.test('an item that cannot be judged is stepped around; when skips hide the change, the candidates are named', async (t) => {
  const verdicts = (first: number, unjudged: number[]) => async (item: number): Promise<Judgement> =>
    unjudged.includes(item) ? 'unjudged' : item >= first ? 'differs' : 'same';
  const around = await firstDiffering(8, verdicts(6, [4]));
  t.equal(around.first, 6);
  t.ok(around.judged.some((j) => j.item === 4 && j.judgement === 'unjudged'));
  const hidden = await firstDiffering(4, verdicts(3, [2, 3]));
  t.equal(hidden.first, undefined);
  t.same(hidden.candidates, [2, 3, 4], 'the change came at 2, 3 or 4');
  await t.rejects(firstDiffering(0, verdicts(1, [])), RangeError);
});

t.test('a run\'s verdict and what git bisect run is told', async (t) => {
  const passed = KTAP('ok 2 stage 5 TEST_RUNSTATE_DATA', 'ok');
  const failed = KTAP('not ok 2 stage 5 TEST_RUNSTATE_DATA', 'not ok');
  const exited = (status: number, output: string) => ({ status, outcome: 'exited' as const, message: '', output });
  t.equal(gitBisectStatus(judgeRun(exited(0, passed))), 0);
  t.equal(gitBisectStatus(judgeRun(exited(1, failed))), 1);
  t.equal(gitBisectStatus(judgeRun(exited(4, ''))), 125, 'everything skipped: cannot judge');
  const stage = resolveStage(['xen_shinfo_test: stage 0 TEST_INJECT_VECTOR', 'xen_shinfo_test: stage 5 TEST_RUNSTATE_DATA'], 'RUNSTATE_DATA');
  t.equal(stage, 'xen_shinfo_test: stage 5 TEST_RUNSTATE_DATA');
  t.throws(() => resolveStage(['a: stage 1', 'a: stage 2'], 'stage'), /names 2 stages/);
  t.throws(() => resolveStage(['a: stage 1'], 'nothing'), /names no stage/);
  const stageVerdict = judgeRun(exited(1, failed), stage);
  t.ok(stageVerdict.judged && stageVerdict.verdict === 'fail');
  t.equal(gitBisectStatus(judgeRun(exited(0, KTAP('ok 2 stage 5 TEST_RUNSTATE_DATA # XFAIL gap', 'ok')), stage)), 0, 'a known gap counts as passed');
  t.equal(gitBisectStatus(judgeRun(exited(0, passed), 'xen_shinfo_test: no such stage')), 125, 'a stage never printed: cannot judge');
  const panic = (output: string) => ({ status: 70, outcome: 'guestPanic' as const, message: 'the guest kernel panicked', output });
  t.equal(gitBisectStatus(judgeRun(panic('KTAP version 1\n1..1\n'))), 1, 'a crash during the suite is the kernel\'s: bad');
  t.equal(gitBisectStatus(judgeRun(panic(''))), 125, 'a panic before the suite started: cannot judge');
  for (const outcome of ['flake', 'noStart', 'badKernel', 'timeout'] as const) {
    t.equal(gitBisectStatus(judgeRun({ status: 1, outcome, message: outcome, output: '' })), 125, `${outcome}: cannot judge`);
  }
});

t.test('a run that says nothing about any kernel stops the bisect: 128 for git bisect run (130 after an interrupt)', async (t) => {
  for (const [outcome, status, told] of [['usage', 64, 128], ['missingTool', 69, 128], ['interrupted', 130, 130], ['outputClosed', 141, 141]] as const) {
    const verdict = judgeRun({ status, outcome, message: outcome, output: '' });
    t.same(verdict, { judged: false, reason: outcome, stop: outcome }, `${outcome}: a stop`);
    t.equal(gitBisectStatus(verdict), told, `${outcome}: git bisect run is told ${told}`);
  }
  const refused = judgeRun({ status: 64, outcome: 'exited', message: '', output: '' });
  t.equal(refused.judged === false && refused.stop, 'usage', 'the suite in the guest exiting 64: a usage error too');
  t.equal(gitBisectStatus(refused), GIT_BISECT_ABORT);
  t.equal(gitBisectAbort(1), 128, 'any other status becomes 128');
});

t.test('the Debian versions from good to bad, in either direction', async (t) => {
  const offered = ['6.12.107', '6.12.111', '6.12.113', '6.12.115', '6.12.117'];
  t.same(versionsBetween(offered, 'debian:6.12.107', 'debian:6.12.115'), ['6.12.107', '6.12.111', '6.12.113', '6.12.115']);
  t.same(versionsBetween(offered, 'debian:6.12.117+deb12', 'debian:6.12.113-1~deb12u1'), ['6.12.117', '6.12.115', '6.12.113'], 'a later good version: where something got fixed');
  t.throws(() => versionsBetween(offered, 'debian:6.12.108', 'debian:6.12.117'), /--good 6\.12\.108: the package source offers no such Debian kernel/);
  t.throws(() => versionsBetween(offered, 'debian:6.12.117', 'debian:6.12.117'), /the same version/);
});

t.test('confirmedJudgement: a difference counts once it shows twice; two disagreeing runs, a third decides', async (t) => {
  const scripted = (answers: Judgement[]): { judge: (attempt: number) => Promise<Judgement>; attempts: number[] } => {
    const attempts: number[] = [];
    return { attempts, judge: async (attempt) => { attempts.push(attempt); return answers[attempt - 1]!; } };
  };
  const cases: Array<[Judgement[], Judgement, number]> = [
    [['same'], 'same', 1],
    [['unjudged'], 'unjudged', 1],
    [['differs', 'differs'], 'differs', 2],
    [['differs', 'same', 'same'], 'same', 3],
    [['differs', 'same', 'differs'], 'differs', 3],
    [['differs', 'unjudged', 'differs'], 'differs', 3],
    [['differs', 'same', 'unjudged'], 'unjudged', 3],
    [['differs', 'unjudged', 'unjudged'], 'unjudged', 3],
  ];
  for (const [answers, expected, runs] of cases) {
    const { judge, attempts } = scripted(answers);
    t.equal(await confirmedJudgement(judge), expected, `${answers.join(', ')} -> ${expected}`);
    t.same(attempts, [1, 2, 3].slice(0, runs), `in ${runs} run(s)`);
  }
});

t.test('a bisect over a flaky check still names the patch: a one-off failure before it is not believed', async (t) => {
  // Items 1..4; item 3 really differs, item 2 fails once (a TCG timing flake) and passes when run again.
  const runs = new Map<number, number>();
  const result = await firstDiffering(4, (item) => confirmedJudgement(async () => {
    const n = (runs.get(item) ?? 0) + 1;
    runs.set(item, n);
    if (item >= 3) return 'differs';
    return item === 2 && n === 1 ? 'differs' : 'same';
  }));
  t.equal(result.first, 3);
  t.same(result.judged, [{ item: 2, judgement: 'same' }, { item: 3, judgement: 'differs' }]);
  t.same([...runs].sort(), [[2, 3], [3, 2]], 'item 2 three times (differs, same, same), item 3 twice');
});
