// kvm-xen compare: the suite on any number of configurations — kernels, KVM module sets and KVM
// module parameters, crossed — and one table of every test and stage, differences first.
import { buildMatrix, columnName, describeColumn, formatMatrix, formatReasons, matrixColumns, parameterName, regressedColumns, runPool, type KernelBuild, type MatrixColumn } from '../../lib/matrix';
import { DEFAULT_KERNEL } from '../../lib/debian/kernel';
import { parseTap, type TapDocument } from '../../lib/tap/parse';
import { VmError, type VmOptions, type VmResult } from '../../lib/vm';
import type { KcidbReport } from '../../lib/kcidb';
import { printProgress, reportVmResult } from '../progress';
import { runSuiteInVm } from '../suite-in-vm';
import { applyVmFlag, vmOptionsHelp } from '../vm-flags';
import { columnVmOptions } from '../kvm-params';
import type { Command } from './command';
import { jsonOptionHelp, SuiteRecording, takeJsonOption, writeKcidbJson } from './kcidb-json';
import { parseSuiteArgs } from './test';

const usage = `usage: kvm-xen compare [--kernel K [--kvm-modules DIR]...]... [--kvm-param MODULE.PARAM=VALUE]...
                       [--jobs N] [VM OPTIONS] [-- TEST ARGS]

Runs the selftest suite on every configuration and prints one table: a row per test and stage, a
column per configuration (A, B, C, ... named under the table), rows that differ first; under it,
what each failing test reported (its bail-out or last diagnostic), per column. With
'-- --repeat N' each cell counts its outcomes over the N runs. Exit status 1 when any column fails
something column A passes (a regression), else 0; a runner failure exits with its own status.

Columns are the cross product of:
  kernel builds     each --kernel (debian, debian:VERSION, a bzImage, a tree; default debian) with
                    its own KVM modules, or with each --kvm-modules DIR given after it (one column
                    each; 'stock' names the kernel's own modules, './stock' a directory)
  parameter axes    --kvm-param MODULE.PARAM=VALUE, repeatable: the values of one parameter make
                    one axis (kvm_amd.avic=0 --kvm-param kvm_amd.avic=1: two columns per build),
                    another parameter another axis
e.g. --kernel debian:6.12.107 --kernel debian --kvm-param kvm_amd.avic=0 --kvm-param kvm_amd.avic=1
is four columns.
  --jobs N          boot up to N columns at a time (default 1; each VM has its own cores and
                    memory, the kernel cache is shared)
${jsonOptionHelp}

${vmOptionsHelp}`;

/** The value after --kvm-modules that means "the kernel's own modules". */
const STOCK = 'stock';

export interface MatrixRequest {
  columns: MatrixColumn[];
  common: VmOptions;
  testArgs: string[];
  jobs: number;
}

export function parseMatrixArgs(argv: readonly string[]): MatrixRequest {
  const builds: Array<{ kernel: string; modules: Array<string | undefined> }> = [];
  const params: string[] = [];
  const common: VmOptions = {};
  let jobs = 1;
  const dash = argv.indexOf('--');
  const own = dash >= 0 ? argv.slice(0, dash) : [...argv];
  const testArgs = dash >= 0 ? argv.slice(dash + 1) : [];
  const value = (flag: string, index: number): string => {
    const given = own[index];
    if (given === undefined) throw new VmError('usage', `${flag} needs a value`);
    return given;
  };
  for (let i = 0; i < own.length; i++) {
    const flag = own[i]!;
    if (flag === '--kernel') {
      const checked: VmOptions = {};
      applyVmFlag(checked, flag, value(flag, ++i));
      builds.push({ kernel: checked.kernel!, modules: [] });
    } else if (flag === '--kvm-modules') {
      const dir = value(flag, ++i);
      if (builds.length === 0) builds.push({ kernel: DEFAULT_KERNEL, modules: [] });
      if (dir !== STOCK) applyVmFlag({}, flag, dir);
      builds[builds.length - 1]!.modules.push(dir === STOCK ? undefined : dir);
    } else if (flag === '--kvm-param') {
      const setting = value(flag, ++i);
      try {
        parameterName(setting);
      } catch (error) {
        throw new VmError('usage', `--kvm-param: ${(error as Error).message}`);
      }
      params.push(setting);
    } else if (flag === '--jobs') {
      jobs = Number(value(flag, ++i));
      if (!Number.isInteger(jobs) || jobs < 1) throw new VmError('usage', `--jobs needs a positive integer, got ${JSON.stringify(own[i])}`);
    } else if (flag === '--verbose') {
      applyVmFlag(common, flag, undefined);
    } else if (!applyVmFlag(common, flag, own[++i])) {
      throw new VmError('usage', `unknown option ${flag}`);
    }
  }
  if (builds.length === 0) builds.push({ kernel: DEFAULT_KERNEL, modules: [] });
  const kernelBuilds: KernelBuild[] = builds.flatMap((build) => (build.modules.length === 0 ? [undefined] : build.modules).map((kvmModules) => ({ kernel: build.kernel, kvmModules })));
  const columns = matrixColumns(kernelBuilds, params);
  if (columns.length < 2) throw new VmError('usage', `compare needs at least two columns (kernels, module sets or parameter values), got ${columns.length}`);
  parseSuiteArgs([...testArgs]);  // the suite's arguments are checked here, before any VM boots
  for (const column of columns) columnVmOptions(column);  // and each column's options
  return { columns, common, testArgs, jobs };
}

interface ColumnRun {
  result: VmResult;
  doc: TapDocument | undefined;
  report: KcidbReport | undefined;
}

export const compare: Command = {
  summary: 'run the suite on many kernels / module sets / module parameters, one per-stage table; exit 1 on a regression',
  usage,
  async run(argv) {
    const { file: jsonFile, rest } = takeJsonOption(argv);
    const { columns, common, testArgs, jobs } = parseMatrixArgs(rest);
    const names = columns.map((_, index) => columnName(index));
    const onProgress = printProgress();
    const runs = await runPool(columns, jobs, async (column, index): Promise<ColumnRun> => {
      process.stderr.write(`kvm-xen compare: running the suite on ${names[index]}: ${describeColumn(column)}\n`);
      const recording = new SuiteRecording();
      const result = await runSuiteInVm({ ...common, ...columnVmOptions(column), onProgress }, testArgs, {
        output: recording.sink(),
        errorOutput: process.stderr,
        onRetry: () => recording.reset(),
      });
      process.stderr.write(`kvm-xen compare: ${names[index]} done in ${(result.durationMs / 1000).toFixed(1)} s (status ${result.status})\n`);
      if (result.outcome !== 'exited') return { result, doc: undefined, report: undefined };
      const environment = ['a QEMU guest booted by kvm-xen', ...column.kvmParams].join(', ');
      const report = jsonFile ? recording.report({ kernel: result.kernel, kernelSpec: column.kernel, kvmModules: column.kvmModules, environment }) : undefined;
      return { result, doc: parseTap(recording.lines.output), report };
    });
    const failed = runs.find((run) => run.result.outcome !== 'exited');
    if (failed) return reportVmResult(failed.result, 'compare');
    if (jsonFile) writeKcidbJson(jsonFile, runs.map((run) => run.report!));
    const docs = runs.map((run) => run.doc!);
    const rows = buildMatrix(docs);
    const labels = columns.map((column, index) => [runs[index]!.result.kernel, ...column.kvmParams].join(', '));
    process.stdout.write(formatMatrix(rows, names, labels));
    process.stdout.write(formatReasons(docs, names));
    const regressions = rows.filter((row) => regressedColumns(row).length > 0).length;
    process.stdout.write(regressions ? `${regressions} regression(s): a column fails what A passes\n` : 'no regressions\n');
    return regressions ? 1 : 0;
  },
};
