// kvm-xen test: run the selftest suite against this machine's /dev/kvm, or (--vm) inside a booted
// kernel. KTAP v1 out; exit 0 pass / 1 fail / 4 all skipped.
import { parseArgs } from 'node:util';

import { runSuite, selftests } from '../../selftests/suite';
import { printProgress, reportVmResult } from '../progress';
import { runSuiteInVm } from '../suite-in-vm';
import { parseVmArgs } from '../vm-flags';
import { runWatch, takeWatchArgs, watchHelp } from '../watch';
import { type Command, UsageError } from './command';
import { jsonOptionHelp, SuiteRecording, takeJsonOption, writeKcidbJson } from './kcidb-json';

const usage = `usage: kvm-xen test [--strict] [--verbose] [--list] [NAME...]
       kvm-xen test --vm [VM OPTIONS] [--strict] [NAME...]
       kvm-xen test --vm --watch --patch FILE... [VM OPTIONS] [--strict] [NAME...]

Runs the selftests (all, or those named) and prints KTAP v1. Exit status: 0 all passed, 1 something
failed, 4 everything skipped (the kernel lacks what the tests need).

  --strict    count known kernel gaps (KTAP "# XFAIL") as failures
  --verbose   the tests' progress messages, as KTAP diagnostic lines
  --list      list the selftests and exit
  --repeat N  run the suite N times and print per-stage pass/fail counts (flaky stages show up)
  --vm        boot a kernel in QEMU and run the suite there (see 'kvm-xen vm --help' for VM OPTIONS)
${watchHelp}
${jsonOptionHelp}`;

/** The suite's own arguments, checked here (on the host, before any VM boots): names, --repeat. */
export function parseSuiteArgs(argv: string[]): { strict: boolean; verbose: boolean; list: boolean; repeat: number; names: string[] } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      strict: { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
      list: { type: 'boolean' },
      repeat: { type: 'string' },
    },
  });
  const unknown = positionals.filter((name) => !selftests.some((entry) => entry.name === name));
  if (unknown.length > 0) throw new UsageError(`unknown selftest ${unknown.join(', ')}; known: ${selftests.map((entry) => entry.name).join(', ')}`);
  const repeat = values.repeat === undefined ? 1 : Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) throw new UsageError(`--repeat needs a positive integer, got ${JSON.stringify(values.repeat)}`);
  return { strict: values.strict ?? false, verbose: values.verbose ?? false, list: values.list ?? false, repeat, names: positionals };
}

function list(): number {
  for (const entry of selftests) process.stdout.write(`${entry.name.padEnd(24)} ${entry.summary}\n`);
  return 0;
}

export const test: Command = {
  summary: 'run the selftest suite (KTAP v1; exit 0/1/4), here or in a booted kernel (--vm)',
  usage,
  async run(allArgs) {
    const { file: jsonFile, rest: argv } = takeJsonOption(allArgs);
    if (argv.includes('--vm')) return runInVmMode(argv.filter((arg) => arg !== '--vm'), jsonFile);
    const args = parseSuiteArgs(argv);
    if (args.list) return list();
    const recording = jsonFile === undefined ? undefined : new SuiteRecording();
    const status = await runSuite({ only: args.names, strict: args.strict, verbose: args.verbose, repeat: args.repeat, ...(recording ? { out: recording.sink(process.stdout) } : {}) });
    if (recording) writeKcidbJson(jsonFile!, [recording.report({ kernel: undefined, environment: "this machine's /dev/kvm" })]);
    return status;
  },
};

/** The VM flags go to the runner, the rest (--strict, names, ...) to the suite inside, checked here first. */
async function runInVmMode(argv: string[], jsonFile: string | undefined): Promise<number> {
  const { watch, patches, rest: vmArgs } = takeWatchArgs(argv);
  const { options, rest } = parseVmArgs(vmArgs);
  if (parseSuiteArgs(rest).list) return list();
  if (watch) {
    if (options.kvmModules !== undefined || jsonFile !== undefined) throw new UsageError('--watch builds its own modules and prints no --json');
    return runWatch(options, patches, rest);
  }
  const recording = jsonFile === undefined ? undefined : new SuiteRecording();
  const output = recording ? recording.sink(process.stdout) : process.stdout;
  const result = await runSuiteInVm({ ...options, onProgress: printProgress() }, rest, { output, errorOutput: process.stderr, ...(recording ? { onRetry: () => recording.reset() } : {}) });
  if (recording && result.outcome === 'exited') {
    writeKcidbJson(jsonFile!, [recording.report({ kernel: result.kernel, kernelSpec: options.kernel, kvmModules: options.kvmModules, environment: 'a QEMU guest booted by kvm-xen' })]);
  }
  return reportVmResult(result);
}
