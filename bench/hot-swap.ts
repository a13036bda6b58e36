// Benchmark: from saving a one-line change of arch/x86/kvm/xen.c (an edit of the patch file) to the
// verdict of xen_shinfo_test, with `kvm-xen test --vm --watch` against today's path in the same run:
// `build-kvm --patch` (a fresh build of the patched sources) and then `test --vm --kvm-modules`. The
// watch is started and has its first verdict before the clock starts (as a developer's would be); its
// build tree is kept in the cache, so only xen.c is compiled again. Goal: at most 0.3x of today's path.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { projectRoot } from '../lib/paths';
import { median } from './median';

export interface HotSwapBench {
  rounds: number;
  /** Median over the rounds: patch saved to the watch's verdict line. */
  watchMs: number;
  /** build-kvm + test --vm, once. */
  todayMs: number;
  todayBuildMs: number;
  ratio: number;
}

const cli = path.join(projectRoot, 'dist', 'bin', 'kvm-xen.js');
const TEST = 'xen_shinfo_test';

/** The harmless test patch with its one added line reading `text`: a one-line change of xen.c. */
function harmlessPatch(text: string): string {
  const patch = fs.readFileSync(path.join(projectRoot, 'test', 'data', 'hot-swap-harmless.patch'), 'utf8');
  const changed = patch.replace(/^\+\/\* .* \*\/$/m, `+/* ${text} */`);
  if (changed === patch) throw new Error('test/data/hot-swap-harmless.patch no longer has its one added comment line');
  return changed;
}

/** Runs the CLI; `accept` are the statuses that are a verdict (a flaky stage's fail is one too). */
function timedCli(args: string[], accept: readonly number[] = [0]): Promise<{ ms: number; stdout: string }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('close', (code) => {
      if (!accept.includes(code ?? -1)) reject(new Error(`kvm-xen ${args.join(' ')} exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
      else resolve({ ms: Date.now() - started, stdout });
    });
  });
}

/** Today's path from a saved patch: a fresh build, then a boot that runs the test. */
async function todaysPath(patch: string, out: string): Promise<{ ms: number; buildMs: number }> {
  const build = await timedCli(['build-kvm', '--patch', patch, '--out', out]);
  const test = await timedCli(['test', '--vm', '--kvm-modules', out, TEST], [0, 1]);
  return { ms: build.ms + test.ms, buildMs: build.ms };
}

/** The watch: rounds of "save the patch, wait for the verdict", after the first verdict. */
async function watchPath(patch: string, rounds: number): Promise<number[]> {
  const child = spawn(process.execPath, [cli, 'test', '--vm', '--watch', '--patch', patch, TEST], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let ended = false;
  const waiters: Array<() => void> = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000); });
  child.on('close', () => {
    ended = true;
    for (const wake of waiters.splice(0)) wake();
  });
  const verdict = async (n: number): Promise<number> => {
    while (!stdout.includes(`kvm-xen watch: run ${n}: `)) {
      if (ended) throw new Error(`the watch ended before run ${n}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
    return Date.now();
  };
  try {
    await verdict(1);
    const times = [];
    for (let round = 1; round <= rounds; round++) {
      const saved = Date.now();
      fs.writeFileSync(patch, harmlessPatch(`kvm-xen bench: watch round ${round}`));
      times.push(await verdict(round + 1) - saved);
    }
    return times;
  } finally {
    child.kill('SIGTERM');
    if (!ended) await new Promise((resolve) => child.on('close', resolve));
  }
}

export async function benchHotSwap(rounds = 2): Promise<HotSwapBench> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-bench-hot-swap-'));
  try {
    const patch = path.join(dir, 'change.patch');
    fs.writeFileSync(patch, harmlessPatch('kvm-xen bench: the watch starts here'));
    const watchTimes = await watchPath(patch, rounds);
    // A one-line change build-kvm has not built before (its cache is by patch contents; --out builds anyway).
    fs.writeFileSync(patch, harmlessPatch(`kvm-xen bench: today's path ${Date.now()}`));
    const today = await todaysPath(patch, path.join(dir, 'modules'));
    const watchMs = median(watchTimes);
    return { rounds, watchMs, todayMs: today.ms, todayBuildMs: today.buildMs, ratio: watchMs / today.ms };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  benchHotSwap(Number(process.argv[2] ?? 2)).then((b) => process.stdout.write(`${JSON.stringify(b, null, 2)}\n`), (error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  });
}
