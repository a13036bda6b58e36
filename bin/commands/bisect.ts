// kvm-xen bisect: which patch of a series (or which Debian kernel between two) changed the suite's
// verdict or a stage's, with the fewest boots; and --run, one judgement of a kernel for `git bisect run`.
import { changedStages, confirmedJudgement, firstDiffering, gitBisectAbort, gitBisectStatus, judgeRun, resolveStage, versionsBetween, type Judgement, type RunVerdict } from '../../lib/bisect';
import { offeredKernelVersions } from '../../lib/debian/kernel';
import { flatten } from '../../lib/tap/compare';
import { PatchSeriesBuilder } from '../../lib/kbuild';
import { VmError, type VmOptions } from '../../lib/vm';
import { printProgress } from '../progress';
import { runSuiteInVm } from '../suite-in-vm';
import { applyVmFlag, vmOptionsHelp } from '../vm-flags';
import { type Command, UsageError } from './command';
import { parseSuiteArgs } from './test';

const usage = `usage: kvm-xen bisect --patches P1 P2 ... PN [--kernel debian[:VERSION]] [--stage S] [VM OPTIONS] [-- TEST ARGS]
       kvm-xen bisect --good debian:VERSION --bad debian:VERSION [--stage S] [VM OPTIONS] [-- TEST ARGS]
       kvm-xen bisect --run [--stage S] [VM OPTIONS] [-- TEST ARGS]

--patches: finds the first patch of the series (applied in order to the kernel's KVM sources) whose
KVM modules change the suite's verdict, or the outcome of stage S, from the unpatched modules'. It
boots the unpatched modules once, then binary-searches the prefixes (1 + about log2(N+1) boots,
and one more for each prefix that differs: a difference counts once it shows twice, a third run
deciding when the two disagree), each prefix's modules built incrementally in one tree and cached as
build-kvm caches them. Prints
the patch, the stages it changed, and how many builds and boots it took.

--good/--bad: the same across the Debian 6.12 kernels the package source offers, from the good
version to the bad one (each kernel with its own modules).

--run: judges one kernel (VM OPTIONS: --kernel TREE|BZIMAGE, --kvm-modules DIR, ...) for
'git bisect run': exit 0 good (the suite or stage S passed; a known kernel gap counts as passed),
1 bad (a failure, or a kernel crash during the suite), 125 cannot judge (no kernel, a panic or
hang before or outside the suite, a TCG flake that persisted, the stage skipped or never run), and
128 (130 after Ctrl-C) for what says nothing about the commit — a usage error, a --stage naming no
stage, a --kvm-param the module lacks, a missing host tool, an error of kvm-xen itself: git bisect
run stops the bisection on 128 or more, where 64 or 1 would mark the commit bad.

  --stage S   a test's stage as the compare table names it ("xen_shinfo_test: stage 7 ...", or a
              unique part of it); without it, the suite's verdict (pass / fail / skip)

Exit status (--patches, --good/--bad): 0 a patch or kernel was found; 1 none changes the verdict;
125 unjudged runs hide where the change came; the runner's statuses when the reference run fails.

${vmOptionsHelp}`;

interface BisectRequest {
  mode: 'patches' | 'versions' | 'run';
  patches: string[];
  good: string | undefined;
  bad: string | undefined;
  stage: string | undefined;
  vm: VmOptions;
  testArgs: string[];
}

function parse(argv: readonly string[]): BisectRequest {
  const dash = argv.indexOf('--');
  const own = dash >= 0 ? argv.slice(0, dash) : [...argv];
  const request: BisectRequest = { mode: 'run', patches: [], good: undefined, bad: undefined, stage: undefined, vm: {}, testArgs: dash >= 0 ? argv.slice(dash + 1) : [] };
  const modes = new Set<BisectRequest['mode']>();
  const value = (flag: string, index: number): string => {
    const given = own[index];
    if (given === undefined || given.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return given;
  };
  for (let i = 0; i < own.length; i++) {
    const flag = own[i]!;
    if (flag === '--patches') {
      modes.add('patches');
      while (own[i + 1] !== undefined && !own[i + 1]!.startsWith('--')) request.patches.push(own[++i]!);
      if (request.patches.length === 0) throw new UsageError('--patches needs at least one patch file');
    } else if (flag === '--good' || flag === '--bad') {
      modes.add('versions');
      request[flag === '--good' ? 'good' : 'bad'] = value(flag, ++i);
    } else if (flag === '--run') {
      modes.add('run');
    } else if (flag === '--stage') {
      request.stage = value(flag, ++i);
    } else if (flag === '--verbose') {
      applyVmFlag(request.vm, flag, undefined);
    } else if (!applyVmFlag(request.vm, flag, own[++i])) {
      throw new UsageError(`unknown option ${flag}`);
    }
  }
  if (modes.size !== 1) throw new UsageError('give one of --patches, --good/--bad or --run');
  request.mode = [...modes][0]!;
  if (request.mode === 'versions') {
    if (!request.good || !request.bad) throw new UsageError('--good and --bad go together');
    for (const spec of [request.good, request.bad]) if (!spec.startsWith('debian:')) throw new UsageError(`--good and --bad take debian:VERSION, got ${spec}`);
    if (request.vm.kernel !== undefined || request.vm.kvmModules !== undefined) throw new UsageError('--good/--bad choose the kernels: no --kernel or --kvm-modules');
  }
  if (request.mode === 'patches' && request.vm.kvmModules !== undefined) throw new UsageError('--patches builds the modules: no --kvm-modules');
  if (parseSuiteArgs([...request.testArgs]).repeat !== 1) throw new UsageError('bisect judges one run of the suite: no --repeat');
  return request;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * One boot of the suite, judged. `stage` as the user wrote it is resolved against this run's rows
 * when `resolve` (the reference run, or --run); otherwise it is the reference's exact row.
 */
async function judgedRun(vm: VmOptions, testArgs: readonly string[], stage: string | undefined, resolve: boolean): Promise<{ verdict: RunVerdict; stage: string | undefined; kernel: string }> {
  let output = '';
  const result = await runSuiteInVm({ ...vm, onProgress: printProgress() }, testArgs, {
    output: { write: (chunk) => { output += chunk.toString(); return true; } },
    errorOutput: process.stderr,
    onRetry: () => { output = ''; },
  });
  const suite = { ...result, output };
  const whole = judgeRun(suite);
  if (stage === undefined || !whole.judged) return { verdict: whole, stage, kernel: result.kernel };
  let key = stage;
  if (resolve) {
    try {
      key = resolveStage(flatten(whole.doc).keys(), stage);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  return { verdict: judgeRun(suite, key), stage: key, kernel: result.kernel };
}

/** --run: one judgement for git bisect run. */
async function runOnce(request: BisectRequest): Promise<number> {
  const { verdict: run, stage } = await judgedRun(request.vm, request.testArgs, request.stage, true);
  const status = gitBisectStatus(run);
  const what = stage ?? 'the suite';
  if (!run.judged && run.stop) {
    process.stdout.write(`no verdict on any kernel: ${run.reason} -> stop the bisection (exit ${status})\n`);
    return status;
  }
  const said = run.judged ? `${what}: ${run.verdict}` : `cannot judge: ${run.reason}`;
  process.stdout.write(`${said} -> ${status === 0 ? 'good' : status === 1 ? 'bad' : 'skip'} (exit ${status})\n`);
  return status;
}

/** --run among the verb's own arguments (not in the test arguments after `--`). */
function runMode(argv: readonly string[]): boolean {
  const dash = argv.indexOf('--');
  return (dash >= 0 ? argv.slice(0, dash) : argv).includes('--run');
}

interface Item {
  label: string;
  vm: () => Promise<VmOptions>;
}

/** The search over items 1..n after the reference item 0, each judged against the reference's verdict. */
async function search(items: readonly Item[], request: BisectRequest, counts: () => string): Promise<number> {
  const started = Date.now();
  let boots = 0;
  process.stderr.write(`kvm-xen bisect: reference: ${items[0]!.label}\n`);
  const { verdict: reference, stage, kernel } = await judgedRun(await items[0]!.vm(), request.testArgs, request.stage, true);
  boots++;
  if (!reference.judged && reference.stop) throw new VmError(reference.stop, reference.reason);
  if (!reference.judged) {
    process.stderr.write(`kvm-xen bisect: the reference run cannot be judged: ${reference.reason}\n`);
    return 125;
  }
  const what = stage ?? 'the suite';
  process.stderr.write(`kvm-xen bisect: reference verdict of ${what}: ${reference.verdict} (ran ${kernel})\n`);
  const verdicts = new Map<number, RunVerdict>();
  // An item judged again (a difference confirmed) runs the same modules or kernel, got once.
  const vms = new Map<number, Promise<VmOptions>>();
  const vmOf = (index: number): Promise<VmOptions> => {
    if (!vms.has(index)) vms.set(index, items[index]!.vm());
    return vms.get(index)!;
  };
  const result = await firstDiffering(items.length - 1, (index) => confirmedJudgement(async (attempt): Promise<Judgement> => {
    const again = attempt === 1 ? '' : attempt === 2 ? ' again (a difference counts once it shows twice)' : ' a third time (the two runs disagreed)';
    process.stderr.write(`kvm-xen bisect: trying ${items[index]!.label}${again}\n`);
    const { verdict: run, kernel: ran } = await judgedRun(await vmOf(index), request.testArgs, stage, false);
    boots++;
    // Every other item would end the same way: stepping around it would only spend boots.
    if (!run.judged && run.stop) throw new VmError(run.stop, run.reason);
    const judgement: Judgement = !run.judged ? 'unjudged' : run.verdict === reference.verdict ? 'same' : 'differs';
    if (judgement === 'differs') verdicts.set(index, run);
    process.stderr.write(`kvm-xen bisect: ${items[index]!.label}: ${run.judged ? `${what} ${run.verdict}` : `cannot judge (${run.reason})`} -> ${judgement} (ran ${ran})\n`);
    return judgement;
  }));
  const cost = `${boots} boot(s), ${counts()}, ${seconds(Date.now() - started)}`;
  if (result.first === undefined && result.candidates.length === 0) {
    process.stdout.write(`nothing changes the verdict of ${what} from ${reference.verdict} (${cost})\n`);
    return 1;
  }
  if (result.first === undefined) {
    process.stdout.write(`the change came at one of (some could not be judged):\n${result.candidates.map((index) => `  ${items[index]!.label}`).join('\n')}\n(${cost})\n`);
    return 125;
  }
  const first = verdicts.get(result.first)!;
  const lines = [`first change: ${items[result.first]!.label}`, `${what}: ${reference.verdict} -> ${first.judged ? first.verdict : '?'}`];
  if (first.judged) {
    const changed = changedStages(reference.doc, first.doc);
    lines.push(`stages it changed (${changed.length}):`, ...changed.map((row) => `  ${row.key}: ${row.a} -> ${row.b}`));
  }
  lines.push(`judged: ${result.judged.map(({ item, judgement }) => `${item} ${judgement}`).join(', ')}`, cost);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

async function bisectPatches(request: BisectRequest): Promise<number> {
  using builder = await PatchSeriesBuilder.open({ ...(request.vm.kernel ? { kernel: request.vm.kernel } : {}), patches: request.patches, onProgress: printProgress() });
  const items: Item[] = [0, ...request.patches.map((_, index) => index + 1)].map((count) => ({
    label: count === 0 ? `no patches (${builder.kernelDescription})` : `patch ${count}/${request.patches.length}: ${request.patches[count - 1]}`,
    vm: async () => ({ ...request.vm, kvmModules: (await builder.modules(count)).dir }),
  }));
  // Awaited here, so the work tree is removed after the search, not before it.
  return await search(items, request, () => `${builder.builds} build(s), ${builder.reused} from the cache`);
}

async function bisectVersions(request: BisectRequest): Promise<number> {
  let versions: string[];
  try {
    versions = versionsBetween(await offeredKernelVersions(), request.good!, request.bad!);
  } catch (error) {
    if (error instanceof RangeError) throw new VmError('badKernel', error.message);
    throw error;
  }
  process.stderr.write(`kvm-xen bisect: ${versions.length} kernels from ${versions[0]} to ${versions[versions.length - 1]}: ${versions.join(' ')}\n`);
  const items: Item[] = versions.map((version) => ({ label: `debian:${version}`, vm: () => Promise.resolve({ ...request.vm, kernel: `debian:${version}` }) }));
  return search(items, request, () => 'no builds');
}

export const bisect: Command = {
  summary: 'find the patch of a series (or the Debian kernel) that changed a verdict; --run for git bisect run',
  usage,
  async run(argv) {
    const request = parse(argv);
    switch (request.mode) {
      case 'run': return runOnce(request);
      case 'patches': return bisectPatches(request);
      case 'versions': return bisectVersions(request);
    }
  },
  // Under git bisect run, 1-127 (but 125) would mark the commit bad: an error is no verdict on it.
  errorStatus: (argv, status) => (runMode(argv) ? gitBisectAbort(status) : status),
};
