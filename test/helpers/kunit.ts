// The kernel's own KTAP parser, tools/testing/kunit/kunit.py ("kunit.py parse"), from Debian's
// linux-source-6.12 of the kernel under test: the tool our suite's output must satisfy. It is extracted
// once per version into the shared cache, as lib/kbuild does with the KVM sources.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { cacheDir, cachedDirectory } from '../../lib/cache';
import { KERNEL_SOURCE, kernelSourceTarball } from '../../lib/debian/kernel';
import { versionDirName } from '../../lib/debian/packages';
import { runProgram } from '../../lib/process';

/** The directory holding kunit.py for a Debian package version (e.g. 6.12.117-1~deb12u1). */
export async function kunitTool(version: string): Promise<string> {
  const dir = path.join(cacheDir('kunit-tool'), versionDirName(version));
  await cachedDirectory(dir, async (tmp) => {
    const tarball = await kernelSourceTarball(version);
    // kunit.py finds the kernel tree by its own path, so it keeps its place under tools/testing/kunit.
    const result = await runProgram('tar', ['-xJf', tarball, '-C', tmp, '--strip-components=1', `${KERNEL_SOURCE}/tools/testing/kunit`]);
    if (result.status !== 0) throw new Error(`extracting tools/testing/kunit from ${tarball} failed: ${result.stderr.trim()}`);
  });
  return path.join(dir, 'tools', 'testing', 'kunit');
}

/** kunit.py's counts: its "Testing complete. Ran N tests: passed: P, ..." line (it omits zeros). */
export interface KunitCounts {
  total: number;
  passed: number;
  failed: number;
  crashed: number;
  skipped: number;
  errors: number;
}

export interface KunitParse {
  status: number | null;
  /** The "Testing complete." line, as kunit.py printed it. */
  summary: string;
  counts: KunitCounts;
  output: string;
}

/** Runs `python3 kunit.py parse` on `text`, given on stdin (kunit.py changes to the kernel tree's root first). */
export function kunitParse(toolDir: string, text: string): KunitParse {
  const run = spawnSync('python3', [path.join(toolDir, 'kunit.py'), 'parse'], { input: text, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.error) throw run.error;
  // Colour only on a terminal, but strip it anyway.
  const output = `${run.stdout}${run.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
  const summary = /Testing complete\..*/.exec(output)?.[0] ?? '';
  const number = (name: string): number => Number(new RegExp(`\\b${name}: (\\d+)`).exec(summary)?.[1] ?? 0);
  const counts = {
    total: Number(/Ran (\d+) tests/.exec(summary)?.[1] ?? 0),
    passed: number('passed'), failed: number('failed'), crashed: number('crashed'), skipped: number('skipped'), errors: number('errors'),
  };
  return { status: run.status, summary, counts, output };
}

/** Our suite's own last top-level "# Totals: pass:P fail:F xfail:X xpass:Y skip:S error:E" line. */
export function suiteTotalsLine(stdout: string): Record<'pass' | 'fail' | 'xfail' | 'xpass' | 'skip' | 'error', number> | undefined {
  const lines = stdout.split('\n').filter((line) => line.startsWith('# Totals: '));
  const last = lines[lines.length - 1];
  if (!last) return undefined;
  const field = (name: string): number => Number(new RegExp(`\\b${name}:(\\d+)`).exec(last)?.[1] ?? NaN);
  return { pass: field('pass'), fail: field('fail'), xfail: field('xfail'), xpass: field('xpass'), skip: field('skip'), error: field('error') };
}

/**
 * What kunit.py must count, from our Totals: it knows no XFAIL (an "ok" line is a pass to it) and
 * counts "not ok ... # ERROR" as a failure.
 */
export function expectedKunitCounts(totals: NonNullable<ReturnType<typeof suiteTotalsLine>>): Omit<KunitCounts, 'total'> {
  return { passed: totals.pass + totals.xfail + totals.xpass, failed: totals.fail + totals.error, crashed: 0, skipped: totals.skip, errors: 0 };
}
