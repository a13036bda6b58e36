// Benchmark: the port of xen_shinfo_test against the kernel's C test, in the same VM boot (Debian's
// 6.12 kernel in QEMU), run alternately. Goal: the port's test time within 1.25x of C's. Under TCG a
// single run moves by some ±10%, so the ratio is taken within each round (the port against the C run
// before it) and the median of those is reported, beside the median times.
//
//   node dist/bench/shinfo.js [ROUNDS]
import path from 'node:path';

import { DEFAULT_KERNEL } from '../lib/debian/kernel';
import { resolveKernel, runInVm } from '../lib/vm';
import { projectRoot } from '../lib/paths';
import { upstreamShinfoTestForGuest } from '../lib/kbuild';
import { median, medianRatio } from './median';

export interface ShinfoBench {
  kernel: string;
  rounds: number;
  cMs: number;
  portTestMs: number;
  portWallMs: number;
  /** The median over the rounds of the port's test time divided by the C test's. */
  ratio: number;
}

export async function benchShinfo(rounds = 5): Promise<ShinfoBench> {
  const kernel = await resolveKernel(DEFAULT_KERNEL);
  if (!kernel.debianVersion) throw new Error('the default kernel should be a Debian one');
  const cTest = await upstreamShinfoTestForGuest(kernel.debianVersion);
  let output = '';
  const result = await runInVm({
    kernel: DEFAULT_KERNEL,
    command: [process.execPath, path.join(projectRoot, 'dist', 'bench', 'shinfo-in-vm.js'), cTest, String(rounds)],
    output: { write: (chunk) => { output += chunk.toString(); } },
    errorOutput: process.stderr,
  });
  if (result.status !== 0) throw new Error(`the benchmark run failed (${result.message || `status ${result.status}`}):\n${output}`);
  const { c, ported } = JSON.parse(output.trim().split('\n').pop()!) as { c: Array<{ testMs: number }>; ported: Array<{ testMs: number; wallMs: number }> };
  const cMs = median(c.map((t) => t.testMs));
  const portTestMs = median(ported.map((t) => t.testMs));
  const ratio = medianRatio(ported.map((t) => t.testMs), c.map((t) => t.testMs));
  return { kernel: kernel.description, rounds, cMs, portTestMs, portWallMs: median(ported.map((t) => t.wallMs)), ratio };
}

export function formatShinfoBench(b: ShinfoBench): string {
  return [
    `xen_shinfo_test, ${b.kernel} in QEMU, median of ${b.rounds} alternating runs in one boot;`,
    'of C: the median of the rounds\' ratios',
    `  upstream C test          ${b.cMs.toFixed(0).padStart(7)} ms`,
    `  port (test itself)       ${b.portTestMs.toFixed(0).padStart(7)} ms   ${b.ratio.toFixed(2)}x of C (goal <= 1.25x)`,
    `  port (with Node start)   ${b.portWallMs.toFixed(0).padStart(7)} ms`,
  ].join('\n');
}

if (require.main === module) {
  benchShinfo(Number(process.argv[2] ?? 5)).then((b) => process.stdout.write(`${formatShinfoBench(b)}\n`), (error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  });
}
