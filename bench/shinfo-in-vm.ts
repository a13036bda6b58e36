// Runs inside the VM for bench/shinfo.ts: the upstream C xen_shinfo_test and the port, alternately,
// each `rounds` times, timing each run; prints one JSON line with the results.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

interface Timing {
  wallMs: number;
  /** The port's own "test time" (without Node's start-up); the C test's wall time. */
  testMs: number;
}

function timed(command: string, args: string[]): { ms: number; status: number | null; stdout: string } {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, status: result.status, stdout: result.stdout };
}

const [cTest, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 3);
const port = path.join(__dirname, '..', 'selftests', 'xen_shinfo_test.js');
const c: Timing[] = [];
const ported: Timing[] = [];
for (let round = 0; round < rounds; round++) {
  const upstream = timed(cTest!, []);
  if (upstream.status !== 0) throw new Error(`the C test failed (status ${upstream.status}):\n${upstream.stdout}`);
  c.push({ wallMs: upstream.ms, testMs: upstream.ms });
  const ours = timed(process.execPath, [port]);
  if (ours.status !== 0) throw new Error(`the port failed (status ${ours.status}):\n${ours.stdout}`);
  const testMs = Number(/# test time: ([\d.]+) ms/.exec(ours.stdout)?.[1] ?? NaN);
  ported.push({ wallMs: ours.ms, testMs });
}
process.stdout.write(`${JSON.stringify({ c, ported })}\n`);
