// kvm-xen compare: the suite on two kernels (or one kernel with and without your KVM modules), one table.
import { compareRuns, formatComparison, isRegression } from '../../lib/tap/compare';
import { parseTap } from '../../lib/tap/parse';
import { VmError, type VmOptions } from '../../lib/vm';
import { printProgress, reportVmResult } from '../progress';
import { runSuiteInVm } from '../suite-in-vm';
import { applyVmFlag, vmOptionsHelp } from '../vm-flags';
import type { Command } from './command';
import { jsonOptionHelp, SuiteRecording, takeJsonOption, writeKcidbJson } from './kcidb-json';
import { parseSuiteArgs } from './test';

const usage = `usage: kvm-xen compare --kernel A [--kvm-modules DIR] --kernel B [--kvm-modules DIR] [VM OPTIONS] [-- TEST ARGS]

Runs the selftest suite on A and on B and prints each test and stage with its result on both,
differences first. Exit status 1 when B fails something A passes (a regression), else 0.
Each --kvm-modules applies to the --kernel before it; other VM options apply to both.
${jsonOptionHelp}

${vmOptionsHelp}`;

type Side = Pick<VmOptions, 'kernel' | 'kvmModules'> & { kernel: string };

function describe(side: Side): string {
  return side.kvmModules ? `${side.kernel} with KVM modules from ${side.kvmModules}` : side.kernel;
}

function parse(argv: readonly string[]): { sides: Side[]; common: VmOptions; testArgs: string[] } {
  const sides: Side[] = [];
  const common: VmOptions = {};
  const dash = argv.indexOf('--');
  const own = dash >= 0 ? argv.slice(0, dash) : [...argv];
  const testArgs = dash >= 0 ? argv.slice(dash + 1) : [];
  for (let i = 0; i < own.length; i++) {
    const flag = own[i]!;
    if (flag === '--kernel') {
      const side: VmOptions = {};
      applyVmFlag(side, flag, own[++i]);
      sides.push(side as Side);
    } else if (flag === '--kvm-modules') {
      const side = sides[sides.length - 1];
      if (!side) throw new VmError('usage', '--kvm-modules comes after the --kernel it applies to');
      applyVmFlag(side, flag, own[++i]);
    } else if (flag === '--verbose') {
      applyVmFlag(common, flag, undefined);
    } else if (!applyVmFlag(common, flag, own[++i])) {
      throw new VmError('usage', `unknown option ${flag}`);
    }
  }
  if (sides.length !== 2) throw new VmError('usage', `compare needs exactly two --kernel options, got ${sides.length}`);
  parseSuiteArgs(testArgs);  // the suite's arguments are checked here, before either VM boots
  return { sides, common, testArgs };
}

export const compare: Command = {
  summary: 'run the suite on two kernels (or module sets) and print a per-stage diff; exit 1 on a regression',
  usage,
  async run(argv) {
    const { file: jsonFile, rest } = takeJsonOption(argv);
    const { sides, common, testArgs } = parse(rest);
    const onProgress = printProgress();
    const docs = [];
    const reports = [];
    for (const [index, side] of sides.entries()) {
      process.stderr.write(`kvm-xen compare: running the suite on ${'AB'[index]}: ${describe(side)}\n`);
      const recording = new SuiteRecording();
      const result = await runSuiteInVm({ ...common, ...side, onProgress }, testArgs, {
        output: recording.sink(),
        errorOutput: process.stderr,
        onRetry: () => recording.reset(),
      });
      if (result.outcome !== 'exited') return reportVmResult(result);
      docs.push(parseTap(recording.lines.output));
      if (jsonFile) reports.push(recording.report({ kernel: result.kernel, kernelSpec: side.kernel, kvmModules: side.kvmModules, environment: 'a QEMU guest booted by kvm-xen' }));
    }
    if (jsonFile) writeKcidbJson(jsonFile, reports);
    const rows = compareRuns(docs[0]!, docs[1]!);
    process.stdout.write(formatComparison(rows, describe(sides[0]!), describe(sides[1]!)));
    const regressions = rows.filter(isRegression).length;
    process.stdout.write(regressions ? `${regressions} regression(s): B fails what A passes\n` : 'no regressions\n');
    return regressions ? 1 : 0;
  },
};
