// `kvm-xen test --vm --watch --patch FILE...`: the CLI side of lib/watch. Each run's verdict and its
// per-stage diff against the previous run go to stdout; the steps between (building, booting, a lost
// guest) to stderr. It runs until Ctrl-C or SIGTERM, which stop the guest and end with 130.
import { flatten, formatComparison, isRegression } from '../lib/tap/compare';
import { vmExitStatus, type VmOptions } from '../lib/vm';
import { watchPatches, type RunReport, type WatchEvent } from '../lib/watch';
import { projectRoot } from '../lib/paths';
import { UsageError } from './commands/command';
import { printProgress, reportVmResult } from './progress';
import { cliPath } from './suite-in-vm';

export const watchHelp = `  --watch     (with --vm) boot once, then on every change of the --patch files rebuild the KVM
              modules incrementally, swap them into the running guest, rerun the tests and print
              each stage that changed against the previous run; until Ctrl-C
  --patch F   a patch for the KVM sources (repeatable; applied in order), for --watch`;

/** Takes --watch and --patch FILE (or --patch=FILE) out of argv. */
export function takeWatchArgs(argv: readonly string[]): { watch: boolean; patches: string[]; rest: string[] } {
  const patches: string[] = [];
  const rest: string[] = [];
  let watch = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--watch') watch = true;
    else if (arg.startsWith('--patch=')) patches.push(arg.slice('--patch='.length));
    else if (arg === '--patch') {
      const file = argv[++i];
      if (file === undefined) throw new UsageError('--patch needs a file');
      patches.push(file);
    } else rest.push(arg);
  }
  if (watch && patches.length === 0) throw new UsageError('--watch needs at least one --patch FILE to watch');
  if (!watch && patches.length > 0) throw new UsageError('--patch goes with --watch (for one build, use build-kvm --patch and --kvm-modules)');
  return { watch, patches, rest };
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

function counts(report: RunReport): string {
  const tally = new Map<string, number>();
  for (const outcome of flatten(report.tap).values()) tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
  return [...tally].map(([outcome, n]) => `${n} ${outcome}`).join(', ');
}

function printRun(report: RunReport, previousBoot: string | undefined): void {
  const clean = report.kernelProblems.length === 0;
  const verdict = clean && report.status === 0 ? 'PASS' : clean && report.status === 4 ? 'SKIP' : 'FAIL';
  const boot = previousBoot === undefined ? 'booted' : previousBoot === report.bootId ? 'same boot' : 'booted again';
  const compiled = report.build.compiled.length ? report.build.compiled.join(' ') : 'nothing';
  process.stdout.write(`kvm-xen watch: run ${report.number}: ${verdict} (exit ${report.status}; ${counts(report)}) in ${seconds(report.totalMs)}: `
    + `build ${seconds(report.build.durationMs)} (compiled ${compiled}), ${report.load.kind} ${seconds(report.load.ms)}, tests ${seconds(report.testMs)}; `
    + `boot id ${report.bootId} (${boot})\n`);
  for (const problem of report.kernelProblems) process.stdout.write(`kvm-xen watch: the guest kernel reported: ${problem}\n`);
  if (!report.diff) {
    // Nothing to compare with yet: what fails, so that the next runs' diffs can be read against it.
    for (const [key, outcome] of flatten(report.tap)) if (outcome === 'fail') process.stdout.write(`kvm-xen watch: run 1 fails ${key}\n`);
    process.stdout.write('kvm-xen watch: the next runs print what changed since the run before\n');
    return;
  }
  const changed = report.diff.filter((row) => row.a !== row.b);
  if (changed.length === 0) {
    process.stdout.write(`kvm-xen watch: no stage changed since run ${report.number - 1}\n`);
    return;
  }
  const regressions = changed.filter(isRegression).length;
  process.stdout.write(formatComparison(changed, `run ${report.number - 1}`, `run ${report.number}`));
  process.stdout.write(`kvm-xen watch: ${changed.length} line(s) changed since run ${report.number - 1}, ${regressions} regression(s)\n`);
}

/** Runs the watch until a signal; returns the exit status. */
export async function runWatch(options: VmOptions, patches: readonly string[], testArgs: readonly string[]): Promise<number> {
  const controller = new AbortController();
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const stop = (): void => controller.abort();
  for (const signal of signals) process.on(signal, stop);
  let bootId: string | undefined;
  const onEvent = (event: WatchEvent): void => {
    switch (event.kind) {
      case 'building': process.stderr.write(`kvm-xen watch: building the KVM modules with ${event.patches.join(' ')}\n`); break;
      case 'buildFailed': process.stderr.write(`kvm-xen watch: ${event.message}\nkvm-xen watch: waiting for the patches to change\n`); break;
      case 'booting': process.stderr.write('kvm-xen watch: booting the guest\n'); break;
      case 'booted': process.stderr.write(`kvm-xen watch: guest up in ${seconds(event.ms)}, boot id ${event.bootId}\n`); break;
      case 'reloadFailed': process.stderr.write(`kvm-xen watch: the new KVM modules did not load (status ${event.status}):\n${event.output}`); break;
      case 'run':
        printRun(event.report, bootId);
        bootId = event.report.bootId;
        break;
      case 'guestLost':
        process.stderr.write(`kvm-xen watch: ${event.message}\n`);
        if (event.result) for (const line of event.result.consoleTail) process.stderr.write(`  | ${line}\n`);
        break;
      case 'waiting': process.stderr.write(`kvm-xen watch: watching ${patches.join(' ')} (Ctrl-C ends)\n`); break;
    }
  };
  try {
    const end = await watchPatches({
      ...options,
      onProgress: printProgress(),
      patches,
      testCommand: [process.execPath, cliPath(), 'test', ...testArgs],
      cwd: projectRoot,
      errorOutput: process.stderr,
      onEvent,
      signal: controller.signal,
    });
    if (end.reason === 'noGuest' && end.result) return reportVmResult(end.result, 'test --watch');
    return vmExitStatus.interrupted;
  } finally {
    for (const signal of signals) process.removeListener(signal, stop);
  }
}
