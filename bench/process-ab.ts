// Whole-process A/B of Node programs, for a change to the port's start-up: each program run to its exit
// in every round, the order rotated round by round, the median wall time of each printed. Meant to
// run inside the VM, with the programs of two checkouts (say main and a branch), and `-e 0` as the
// bare start-up beside them:
//
//   kvm-xen vm -- node dist/bench/process-ab.js 8 /old/dist/selftests/xen_shinfo_test.js \
//     dist/selftests/xen_shinfo_test.js -e 0
//
// Arguments after ROUNDS are programs, each a script path or `-e CODE`. A run that fails or takes over
// a minute is reported with its last lines and left out of the medians.
import { spawnSync } from 'node:child_process';

import { median } from './median';

const RUN_LIMIT_MS = 60_000;

function parsePrograms(args: readonly string[]): string[][] {
  const programs: string[][] = [];
  for (let i = 0; i < args.length; i++) programs.push(args[i] === '-e' ? ['-e', args[++i] ?? ''] : [args[i]!]);
  return programs;
}

function main(): void {
  const [roundsArg, ...rest] = process.argv.slice(2);
  const rounds = Number(roundsArg);
  const programs = parsePrograms(rest);
  if (!Number.isInteger(rounds) || rounds < 1 || programs.length === 0) {
    process.stderr.write('usage: process-ab.js ROUNDS PROGRAM... (a script path, or -e CODE)\n');
    process.exitCode = 2;
    return;
  }
  const times: number[][] = programs.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < programs.length; k++) {
      const i = (k + round) % programs.length;
      const started = process.hrtime.bigint();
      const run = spawnSync(process.execPath, programs[i]!, { encoding: 'utf8', timeout: RUN_LIMIT_MS, killSignal: 'SIGKILL' });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (run.status !== 0) {
        const last = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim().split('\n').slice(-2).join(' | ');
        process.stdout.write(`round ${round}: ${programs[i]!.join(' ')} failed (status ${run.status}, signal ${run.signal}): ${last}\n`);
        continue;
      }
      times[i]!.push(ms);
    }
  }
  programs.forEach((program, i) => {
    const runs = times[i]!;
    const summary = runs.length ? `${median(runs).toFixed(0)} ms` : 'no run passed';
    process.stdout.write(`${program.join(' ').padEnd(60)} ${summary.padStart(10)}  [${runs.map((ms) => ms.toFixed(0)).join(' ')}]\n`);
  });
}

main();
