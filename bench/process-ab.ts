// Whole-process A/B of Node programs, for a change to the port's start-up: each program run to its exit
// in every round, the order rotated round by round, the median wall time of each printed. Meant to
// run inside the VM, with the programs of two checkouts (say main and a branch), and `-e 0` as the
// bare start-up beside them:
//
//   kvm-xen vm -- node dist/bench/process-ab.js 8 /old/dist/selftests/xen_shinfo_test.js \
//     dist/selftests/xen_shinfo_test.js -e 0
//
// Arguments after ROUNDS are programs, each a script path or `-e CODE`. A run that fails or takes over
// a minute is reported with its last lines and left out of the medians. Each program gets two medians:
// wall time, and CPU time (user + system, its threads together).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

import { median } from './median';

const RUN_LIMIT_MS = 60_000;
/** USER_HZ: what times(2) and /proc count in; 100 on every Linux architecture this runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * User and system time of this process's children that have been waited for (cutime + cstime of
 * /proc/self/stat), in ms: a program's CPU time, which the guest's waits and scheduling move far less
 * than its wall time. Clock ticks, so 10 ms steps at the usual USER_HZ of 100.
 */
function waitedChildrenCpuMs(): number {
  // The fields after the command name, which is in parentheses and may hold spaces.
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // cutime and cstime are fields 16 and 17 of the whole line: 14 and 15 of these (state is 3, here 1).
  return (Number(fields[13]) + Number(fields[14])) * 1000 / CLOCK_TICKS_PER_SECOND;
}

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
  const cpuTimes: number[][] = programs.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < programs.length; k++) {
      const i = (k + round) % programs.length;
      const started = process.hrtime.bigint();
      const cpuBefore = waitedChildrenCpuMs();
      const run = spawnSync(process.execPath, programs[i]!, { encoding: 'utf8', timeout: RUN_LIMIT_MS, killSignal: 'SIGKILL' });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const cpuMs = waitedChildrenCpuMs() - cpuBefore;
      if (run.status !== 0) {
        const last = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim().split('\n').slice(-2).join(' | ');
        process.stdout.write(`round ${round}: ${programs[i]!.join(' ')} failed (status ${run.status}, signal ${run.signal}): ${last}\n`);
        continue;
      }
      times[i]!.push(ms);
      cpuTimes[i]!.push(cpuMs);
    }
  }
  programs.forEach((program, i) => {
    const runs = times[i]!, cpu = cpuTimes[i]!;
    const summary = runs.length ? `${median(runs).toFixed(0)} ms, CPU ${median(cpu).toFixed(0)} ms` : 'no run passed';
    process.stdout.write(`${program.join(' ').padEnd(60)} ${summary.padStart(22)}  [${runs.map((ms) => ms.toFixed(0)).join(' ')}] CPU [${cpu.map((ms) => ms.toFixed(0)).join(' ')}]\n`);
  });
}

main();
