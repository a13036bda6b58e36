// No JavaScript input may crash the process: thousands of seeded random and adversarial calls (wrong
// types, NaN, out-of-range numbers, BigInt for number and back, short, shared, detached and shrunk
// buffers, closed objects, wrong kinds of handle, objects of the wrong class) against the public API and
// the raw addon, in a child process (test/fuzz/child.ts) that must end normally with every promise
// settled. A failing seed is reproduced with `node --expose-gc dist/test/fuzz/child.js SEED CALLS`
// (FUZZ_TRACE=1 names each call before it is made).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import path from 'node:path';

import t from 'tap';

import type { FuzzReport } from './fuzz/child';
import { kvmOrSkip } from './helpers/kvm';

const SEEDS = [1, 2, 3];
const CALLS = 5000;
const child = path.join(__dirname, 'fuzz', 'child.js');

function runChild(args: readonly string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--expose-gc', child, ...args], { encoding: 'utf8', timeout: 120000, maxBuffer: 1 << 24 });
}

function reportOf(run: SpawnSyncReturns<string>): FuzzReport | undefined {
  try {
    return JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as FuzzReport;
  } catch {
    return undefined;
  }
}

for (const seed of SEEDS) {
  t.test(`seed ${seed}: ${CALLS} random calls, and the process survives them`, async (t) => {
    if (!kvmOrSkip(t)) return;
    const run = runChild([String(seed), String(CALLS)]);
    const ended = t.equal(run.status, 0, 'the child exited with status 0') && t.equal(run.signal, null, 'and no signal');
    if (!ended) t.comment(`status ${run.status} signal ${run.signal}; stderr: ${run.stderr.slice(-2000)}`);
    const report = reportOf(run);
    if (!t.ok(report, 'it reported')) return;
    if (!report) return;
    t.comment(`${report.calls} calls in ${report.ms} ms: ${report.threw} threw, ${report.worked} worked; promises ` +
      `${report.promises.resolved} resolved, ${report.promises.rejected} rejected`);
    const commonest = Object.entries(report.errors).sort((a, b) => b[1] - a[1]).slice(0, 8);
    t.comment(`refused as: ${commonest.map(([kind, n]) => `${kind} ×${n}`).join(', ')}`);
    t.equal(report.threw + report.worked, CALLS, 'every call was made');
    t.ok(report.threw > CALLS / 5, 'many calls were refused');
    t.ok(report.worked > CALLS / 10, 'many calls got through to real work');
    t.equal(report.promises.unsettled, 0, 'every promise the library returned settled');
    t.same(Object.keys(report.errors).filter((kind) => kind.startsWith('non-Error')), [], 'everything thrown was an Error');
  });
}

t.test('a crash in the child is seen (the check is not blind)', async (t) => {
  if (!kvmOrSkip(t)) return;
  const run = runChild(['1', String(CALLS), '--crash-after', '100']);
  t.equal(run.signal, 'SIGSEGV');
  t.equal(reportOf(run), undefined, 'no report');
});
