// Runs inside the VM, on KVM modules built with xen-fault-injection.patch: for each fault number given,
// sets kvm's xen_fault parameter, runs the port and the kernel's C xen_shinfo_test one after the other,
// then our xen_poll_test, and prints one JSON line per fault (a FaultRun) for
// test/kernel-faults.test.ts to judge. When the port and the C test disagree, both run once more and
// the disagreement is kept in the report, for the judge to see every attempt. The C test runs with -v
// so that its failure can be placed after the last "Testing ..." line it printed.
//
// usage: node in-vm.js <C xen_shinfo_test> <fault>...
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface TestVerdict {
  status: number | null;
  /** Why it failed, in the test's own words: the port's Bail out! reason, the C test's last line. */
  failure: string;
  /** The failing stage: the port's stage line (`stage 7 TEST_EVTCHN_MASKED`, `final: ...`), `after "Testing ..."` for the C test. */
  stage: string;
}

export interface Attempt {
  port: TestVerdict;
  c: TestVerdict;
}

export interface FaultRun extends Attempt {
  fault: number;
  /** xen_poll_test, which times the polls xen_shinfo_test makes untimed. */
  poll: TestVerdict;
  /** An attempt before this one where the two disagreed. */
  disagreed?: Attempt;
}

const PARAMETER = '/sys/module/kvm/parameters/xen_fault';
const selftest = (name: string): string => path.join(__dirname, '..', '..', 'selftests', `${name}.js`);
const RUN_LIMIT_MS = 120000;

/** `after "LINE"` for the last line of `text` that `matches`, '' when there is none: where a run stopped. */
function afterLast(text: string, matches: (line: string) => boolean): string {
  const last = text.split('\n').map((line) => line.trim()).filter(matches).pop();
  return last ? `after "${last}"` : '';
}

/** One of our selftests: its status, and the stage and reason of its Bail out! line. */
function selftestVerdict(name: string): TestVerdict {
  const run = spawnSync(process.execPath, [selftest(name)], { encoding: 'utf8', timeout: RUN_LIMIT_MS });
  if (run.error) {
    // A run cut at the limit still printed its results so far: the last one places the hang.
    return { status: null, stage: afterLast(run.stdout, (line) => /^(not )?ok \d+/.test(line)), failure: `cannot run ${name}: ${run.error.message}` };
  }
  const bail = /^Bail out! (.*?) failed: (.*)$/m.exec(run.stdout);
  return { status: run.status, stage: bail?.[1] ?? '', failure: bail?.[2] ?? '' };
}

function cVerdict(program: string): TestVerdict {
  const run = spawnSync(program, ['-v'], { encoding: 'utf8', timeout: RUN_LIMIT_MS });
  if (run.error) return { status: null, stage: '', failure: `cannot run ${program}: ${run.error.message}` };
  // The kselftest harness ends a failed TEST_ASSERT with the assertion's message, indented.
  const lines = `${run.stdout}\n${run.stderr}`.split('\n').map((line) => line.trim()).filter((line) => line.length > 0);
  if (run.status === 0) return { status: 0, stage: '', failure: '' };
  return { status: run.status, stage: afterLast(run.stdout, (line) => line.startsWith('Testing ')), failure: lines.pop() ?? '' };
}

/** Same verdict, for the same reason (numbers aside: times differ between runs). */
function agree({ port, c }: Attempt): boolean {
  const words = (failure: string): string => failure.replace(/[\d.]+/g, '#');
  return (port.status === 0) === (c.status === 0) && words(port.failure) === words(c.failure);
}

function attempt(cTest: string): Attempt {
  return { port: selftestVerdict('xen_shinfo_test'), c: cVerdict(cTest) };
}

function main(): void {
  const [cTest, ...faults] = process.argv.slice(2);
  if (!cTest || faults.length === 0) throw new Error('usage: in-vm.js <C xen_shinfo_test> <fault>...');
  if (!fs.existsSync(PARAMETER)) throw new Error(`${PARAMETER} is missing: these are not the fault-injection KVM modules`);
  try {
    for (const fault of faults.map(Number)) {
      fs.writeFileSync(PARAMETER, String(fault));
      const first = attempt(cTest);
      const compared = agree(first) ? first : { ...attempt(cTest), disagreed: first };
      const run: FaultRun = { fault, ...compared, poll: selftestVerdict('xen_poll_test') };
      process.stdout.write(`${JSON.stringify(run)}\n`);
    }
  } finally {
    fs.writeFileSync(PARAMETER, '0');
  }
}

main();
