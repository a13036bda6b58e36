// Runs inside the VM for bench/shinfo.ts: the upstream C xen_shinfo_test and the port, each `rounds`
// times, the order alternating round by round (C first, then the port first, ...). Both are timed the
// same way, as whole processes from outside, and both run with -v, whose "Testing ..." lines are
// timestamped as they arrive, so that each stage can be timed on both sides. The C test runs with
// bench/evtchn_send_count.so preloaded (its EVTCHN_SEND count in the race stage, and a line-buffered
// stdout); the port counts its own racing loop's sends and says so in a -v line. Prints one JSON line.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { ShinfoRun } from './shinfo';

function timedRun(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Omit<ShinfoRun, 'sends' | 'sendSeconds'>> {
  const started = process.hrtime.bigint();
  const elapsedMs = (): number => Number(process.hrtime.bigint() - started) / 1e6;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    const lines: Array<{ ms: number; text: string }> = [];
    let partial = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const ms = elapsedMs();
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      for (const text of parts) lines.push({ ms, text });
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (status) => {
      const wallMs = elapsedMs();
      if (status !== 0) reject(new Error(`${command} ${args.join(' ')} exited with ${status}:\n${lines.map((line) => line.text).join('\n')}\n${stderr}`));
      else resolve({ wallMs, lines });
    });
  });
}

async function main(): Promise<void> {
  const [cTest, roundsArg, counter] = process.argv.slice(2);
  const rounds = Number(roundsArg ?? 3);
  const port = path.join(__dirname, '..', 'selftests', 'xen_shinfo_test.js');
  const countFile = path.join(os.tmpdir(), 'evtchn-send-count');
  const runC = async (): Promise<ShinfoRun> => {
    const run = await timedRun(cTest!, ['-v'], { ...process.env, LD_PRELOAD: counter!, EVTCHN_SEND_COUNT: countFile });
    const [sends, ns] = fs.readFileSync(countFile, 'utf8').trim().split(' ').map(Number);
    return { ...run, sends: sends!, sendSeconds: ns! / 1e9 };
  };
  const runPort = async (): Promise<ShinfoRun> => {
    const run = await timedRun(process.execPath, [port, '-v'], process.env);
    const said = run.lines.map((line) => /(\d+) KVM_XEN_HVM_EVTCHN_SEND in ([\d.]+) s/.exec(line.text)).find(Boolean);
    if (!said) throw new Error('the port did not say how many EVTCHN_SENDs its race stage made');
    return { ...run, sends: Number(said[1]), sendSeconds: Number(said[2]) };
  };
  // A run that fails (a 1 s watchdog missed on a loaded host under TCG) is run again, once, and
  // counted: the benchmark measures speed, the suite judges correctness.
  const failures: string[] = [];
  const again = async (run: () => Promise<ShinfoRun>): Promise<ShinfoRun> => {
    try {
      return await run();
    } catch (error) {
      failures.push((error as Error).message.split('\n').filter((line) => /^(Bail out|not ok)/.test(line))[0] ?? (error as Error).message.split('\n')[0]!);
      return run();
    }
  };
  const c: ShinfoRun[] = [];
  const ported: ShinfoRun[] = [];
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      c.push(await again(runC));
      ported.push(await again(runPort));
    } else {
      ported.push(await again(runPort));
      c.push(await again(runC));
    }
  }
  process.stdout.write(`${JSON.stringify({ c, ported, failures })}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
});
