// lib/kcidb: suite results as KCIDB v5 JSON, the format KernelCI's database (KCIDB) takes.
export { kcidbReport, mergeReports, pathPart, ORIGIN, ROOT_PATH, type KcidbRun } from './report';
export { TimedLines, type ResultTiming } from './timing';
export { KCIDB_VERSION, type KcidbReport, type KcidbStatus, type KcidbTest, type KcidbBuild, type KcidbCheckout, type KcidbIssue, type KcidbIncident } from './schema';
