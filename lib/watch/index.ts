// lib/watch: a patch edit to a per-stage verdict in one boot (build, hot swap, test, diff).
export { watchPatches, type WatchRequest, type WatchEvent, type WatchEnd, type RunReport } from './watch';
