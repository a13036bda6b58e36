// Runs inside the VM for bench/shinfo.ts (on the host with its --host): the upstream C
// xen_shinfo_test and the port, each `rounds` times, the order alternating round by round (C first,
// then the port first, ...). Both are timed the same way, as whole processes from outside, both quiet
// (no -v: a reader waking for each line competed for the guest's two vCPUs and made the port miss its
// 100 ms timer windows), and both with bench/evtchn_send_count.so preloaded, which counts the race
// stage's EVTCHN_SENDs and times its loop. Prints one JSON line.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { ShinfoRun } from './shinfo';

/** A run takes 5-8 s here; one that has not ended after this has hung (it happened: stage 24 once). */
const RUN_LIMIT_MS = 60_000;

function timedRun(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ wallMs: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    let hung = false;
    const limit = setTimeout(() => { hung = true; child.kill('SIGKILL'); }, RUN_LIMIT_MS);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(limit);
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      // The first line names the run and its last words, for the benchmark's list of failed runs.
      const lines = `${stdout}${stderr}`.trim().split('\n');
      const lastWords = [...new Set([...lines.filter((line) => line.startsWith('Bail out')), ...lines.slice(-2)])].slice(0, 2).join(' | ');
      const ended = hung ? `did not end in ${RUN_LIMIT_MS / 1000} s and was killed` : `exited with ${status}`;
      if (hung || status !== 0) reject(new Error(`${path.basename(args[0] ?? command)} ${ended}; last lines: ${lastWords}\n${stdout}\n${stderr}`));
      else resolve({ wallMs });
    });
  });
}

const MAX_ATTEMPTS = 3;

async function main(): Promise<void> {
  const [cTest, roundsArg, counter] = process.argv.slice(2);
  const rounds = Number(roundsArg ?? 3);
  const port = path.join(__dirname, '..', 'selftests', 'xen_shinfo_test.js');
  const countFile = path.join(os.tmpdir(), 'evtchn-send-count');
  const counted = (command: string, args: string[]) => async (): Promise<ShinfoRun> => {
    fs.rmSync(countFile, { force: true });
    const run = await timedRun(command, args, { ...process.env, LD_PRELOAD: counter!, EVTCHN_SEND_COUNT: countFile });
    const [sends, ns] = fs.readFileSync(countFile, 'utf8').trim().split(' ').map(Number);
    return { ...run, sends: sends!, sendSeconds: ns! / 1e9 };
  };
  const runC = counted(cTest!, []);
  const runPort = counted(process.execPath, [port]);
  const runBareNode = async (): Promise<number> => (await timedRun(process.execPath, ['-e', '0'], { ...process.env, LD_PRELOAD: counter! })).wallMs;
  // A run that fails (a 1 s watchdog or a 100 ms timer window missed on a loaded host under TCG) is
  // run again, up to MAX_ATTEMPTS, and reported: the benchmark measures speed, the suite judges
  // correctness.
  const failures: string[] = [];
  const again = async (run: () => Promise<ShinfoRun>): Promise<ShinfoRun> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (error) {
        if (attempt === MAX_ATTEMPTS) throw error;
        failures.push((error as Error).message.split('\n')[0]!);
      }
    }
  };
  const c: ShinfoRun[] = [];
  const ported: ShinfoRun[] = [];
  const bareNode: number[] = [];
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      c.push(await again(runC));
      bareNode.push(await runBareNode());
      ported.push(await again(runPort));
    } else {
      ported.push(await again(runPort));
      bareNode.push(await runBareNode());
      c.push(await again(runC));
    }
  }
  process.stdout.write(`${JSON.stringify({ c, ported, bareNode, failures })}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
});
