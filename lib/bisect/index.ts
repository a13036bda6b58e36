// lib/bisect: where in a patch series, or between two kernels, the suite's verdict (or a stage's) changes.
export { confirmedJudgement, firstDiffering, type Judgement, type SearchResult } from './search';
export { changedStages, GIT_BISECT_ABORT, gitBisectAbort, gitBisectStatus, judgeRun, resolveStage, type RunVerdict, type SuiteRun, type Verdict } from './verdict';
export { upstreamOf, versionsBetween } from './versions';
