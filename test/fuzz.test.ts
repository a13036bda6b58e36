// No JavaScript input may crash the process: 100,000 seeded random and adversarial calls (wrong
// types, NaN, out-of-range numbers, BigInt for number and back, short, shared, detached and shrunk
// buffers, closed objects, wrong kinds of handle, objects of the wrong class) against the public API and
// the raw addon, in a child process (test/fuzz/child.ts) that must end normally with every promise
// settled. The calls are spread over 20 child processes (one per seed), two running at a time. A failing seed is reproduced with `node --expose-gc dist/test/fuzz/child.js SEED CALLS`
// (FUZZ_TRACE=1 names each call before it is made).
import { spawn } from 'node:child_process';
import path from 'node:path';

import t from 'tap';

import type { FuzzReport } from './fuzz/child';
import { kvmOrSkip } from './helpers/kvm';

const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1);
const CALLS = 5000;
/** Children at once: this machine class has two CPUs, and each child keeps one busy. */
const PARALLEL = 2;
const CHILD_TIMEOUT_MS = 180000;
const child = path.join(__dirname, 'fuzz', 'child.js');

interface ChildEnd {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runChild(args: readonly string[]): Promise<ChildEnd> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--expose-gc', child, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: CHILD_TIMEOUT_MS });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-8192); });
    proc.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

/** Starts every seed's child now, PARALLEL at a time; each test then awaits its own. */
function startAll(seeds: readonly number[]): Map<number, Promise<ChildEnd>> {
  const started = new Map<number, Promise<ChildEnd>>();
  const slots: Promise<unknown>[] = Array.from({ length: PARALLEL }, () => Promise.resolve());
  seeds.forEach((seed, i) => {
    const run = slots[i % PARALLEL]!.then(() => runChild([String(seed), String(CALLS)]));
    slots[i % PARALLEL] = run;
    started.set(seed, run);
  });
  return started;
}

function reportOf(run: ChildEnd): FuzzReport | undefined {
  try {
    return JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as FuzzReport;
  } catch {
    return undefined;
  }
}

// Started by the first test that finds /dev/kvm.
let runs: Map<number, Promise<ChildEnd>> | undefined;
for (const seed of SEEDS) {
  t.test(`seed ${seed}: ${CALLS} random calls, and the process survives them`, async (t) => {
    if (!kvmOrSkip(t)) return;
    runs ??= startAll(SEEDS);
    const run = await runs.get(seed)!;
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
  const run = await runChild(['1', String(CALLS), '--crash-after', '100']);
  t.equal(run.signal, 'SIGSEGV');
  t.equal(reportOf(run), undefined, 'no report');
});
