// kselftest conventions for our selftest programs: KTAP v1 on stdout (Documentation/dev-tools/ktap.rst),
// one line per result, "# Totals", and the exit codes of tools/testing/selftests/kselftest.h.
import fs from 'node:fs';
import type { Writable } from 'node:stream';

export const KSFT_PASS = 0;
export const KSFT_FAIL = 1;
export const KSFT_SKIP = 4;

/** TEST_ASSERT: a host-side check failed. */
export class TestFailure extends Error {
  constructor(message: string, readonly details: readonly string[] = []) {
    super(message);
    this.name = 'TestFailure';
  }
}

/** TEST_REQUIRE: the kernel lacks what the test needs; the whole test skips with this reason. */
export class TestSkip extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'TestSkip';
  }
}

export function testAssert(condition: boolean, message: string, details: readonly string[] = []): asserts condition {
  if (!condition) throw new TestFailure(message, details);
}

export function testRequire(condition: boolean, reason: string): asserts condition {
  if (!condition) throw new TestSkip(reason);
}

export interface TapOptions {
  /** Count known failures (XFAIL) as failures. */
  strict?: boolean;
  out?: Pick<Writable, 'write'>;
}

/**
 * Standard output by write(2), a line at a time. process.stdout would load Node's stream modules for
 * it: 40-50 ms of a selftest's start-up in the TCG guest. A non-blocking stdout that fills up (EAGAIN)
 * hands the rest to process.stdout, which waits for it.
 */
class StdoutLines {
  private stream: Pick<Writable, 'write'> | undefined;

  write(text: string): boolean {
    if (this.stream) return this.stream.write(text);
    const bytes = Buffer.from(text);
    for (let offset = 0; offset < bytes.length;) {
      try {
        offset += fs.writeSync(1, bytes, offset);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
        this.stream = process.stdout;
        return this.stream.write(bytes.subarray(offset));
      }
    }
    return true;
  }
}

export class Tap {
  private count = 0;
  private plannedCount: number | undefined;
  private plannedNames: readonly string[] = [];
  private readonly totals = { pass: 0, fail: 0, xfail: 0, xpass: 0, skip: 0, error: 0 };
  private readonly out: Pick<Writable, 'write'>;
  private readonly strict: boolean;

  constructor(options: TapOptions = {}) {
    this.out = options.out ?? new StdoutLines();
    this.strict = options.strict ?? false;
    this.line('KTAP version 1');
  }

  /** The plan: how many checks, or their names in order (then a check not run is reported by name). */
  plan(checks: number | readonly string[]): void {
    this.plannedNames = typeof checks === 'number' ? [] : checks;
    this.plannedCount = typeof checks === 'number' ? checks : checks.length;
    this.line(`1..${this.plannedCount}`);
  }

  /** The whole test is skipped: "1..0 # SKIP reason", as ksft_exit_skip() prints it. */
  skipAll(reason: string): void {
    this.line(`1..0 # SKIP ${reason}`);
  }

  pass(name: string): void {
    this.totals.pass++;
    this.result('ok', name);
  }

  /** A failed check; its details go first, as KTAP wants a result's diagnostics right before it. */
  fail(name: string, details: readonly string[] = []): void {
    this.totals.fail++;
    for (const detail of details) this.diag(detail);
    this.result('not ok', name);
  }

  skip(name: string, reason: string): void {
    this.totals.skip++;
    this.result('ok', name, `SKIP ${reason}`);
  }

  /**
   * A known failure (a kernel gap we report but do not count), as kselftest reports an expected
   * failure: "ok N name # XFAIL reason" (ksft_test_result_xfail). With strict, an ordinary failure. An
   * expected failure that passes is just "ok".
   */
  knownFailure(name: string, reason: string, details: readonly string[] = []): void {
    if (this.strict) {
      this.fail(`${name} (known kernel gap: ${reason})`, details);
      return;
    }
    this.totals.xfail++;
    for (const detail of details) this.diag(detail);
    this.result('ok', name, `XFAIL ${reason}`);
  }

  /** A planned check that never ran (the test ended before it): "not ok N name # ERROR why". */
  notRun(name: string, why: string): void {
    this.totals.error++;
    this.result('not ok', name, `ERROR ${why}`);
  }

  /** The test ends early: every planned check not reported yet is reported as not run. */
  notRunRest(why: string): void {
    while (this.plannedCount !== undefined && this.count < this.plannedCount) {
      this.notRun(this.plannedNames[this.count] ?? `planned check ${this.count + 1}`, why);
    }
  }

  /** Whether a plan line was printed. */
  get planned(): boolean {
    return this.plannedCount !== undefined;
  }

  /** How many result lines were printed so far. */
  get reported(): number {
    return this.count;
  }

  diag(message: string): void {
    for (const text of message.split('\n')) this.line(`# ${text}`);
  }

  bailOut(reason: string): void {
    const [first, ...rest] = reason.split('\n');
    this.line(`Bail out! ${first}`);
    for (const text of rest) this.diag(text);
  }

  printTotals(): void {
    const t = this.totals;
    if (this.plannedCount !== undefined && this.plannedCount !== this.count) {
      // As ksft_print_cnts() does; and the test fails (exitCode).
      this.line(`# Planned tests != run tests (${this.plannedCount} != ${this.count})`);
    }
    this.line(`# Totals: pass:${t.pass} fail:${t.fail} xfail:${t.xfail} xpass:${t.xpass} skip:${t.skip} error:${t.error}`);
  }

  /** 1 if anything failed or the plan was not kept; 4 if nothing ran but skips; else 0. */
  exitCode(): number {
    const t = this.totals;
    if (t.fail > 0 || t.error > 0) return KSFT_FAIL;
    if (this.plannedCount !== undefined && this.plannedCount !== this.count) return KSFT_FAIL;
    if (t.pass === 0 && t.xfail === 0 && t.skip > 0) return KSFT_SKIP;
    return KSFT_PASS;
  }

  /** "<result> <number> <description>[ # <directive> <data>]"; KTAP descriptions cannot hold a "#". */
  private result(result: 'ok' | 'not ok', name: string, directive?: string): void {
    if (name.includes('#')) throw new RangeError(`a KTAP test description cannot contain "#": ${name}`);
    this.line(`${result} ${++this.count} ${name}${directive === undefined ? '' : ` # ${directive}`}`);
  }

  private line(text: string): void {
    this.out.write(`${text}\n`);
  }
}

/**
 * Runs a selftest's main: KTAP out, kselftest exit code. A TestSkip before any result is the
 * whole-test skip; any other escape is a failure, reported with a Bail out! after the planned checks it
 * left unreported (as not run).
 */
export async function runSelftest(main: (tap: Tap) => Promise<void>, options: TapOptions = {}): Promise<number> {
  const tap = new Tap(options);
  try {
    await main(tap);
  } catch (error) {
    if (error instanceof TestSkip) {
      tap.skipAll(error.reason);
      return KSFT_SKIP;
    }
    const message = error instanceof Error ? error.message : String(error);
    // A test that fails before its plan still declares one (of nothing), so KTAP parsers see the
    // subtest end at its result line rather than read on into the parent's.
    if (!tap.planned) tap.plan(0);
    tap.notRunRest(`not reached: ${message.split('\n')[0]}`);
    tap.bailOut(message);
    tap.printTotals();
    return KSFT_FAIL;
  }
  tap.printTotals();
  return tap.exitCode();
}

export interface SelftestArgs {
  /** -v / --verbose: the upstream test's progress messages, as KTAP diagnostic lines. */
  verbose: boolean;
  /** --strict: known kernel gaps (XFAIL) count as failures. */
  strict: boolean;
}

/** The entry point of a selftest program: parses its flags, runs it, sets the exit code. */
export function selftestMain(main: (tap: Tap, args: SelftestArgs) => Promise<void>): void {
  const argv = process.argv.slice(2);
  const args: SelftestArgs = {
    verbose: argv.includes('-v') || argv.includes('--verbose'),
    strict: argv.includes('--strict'),
  };
  runSelftest((tap) => main(tap, args), { strict: args.strict }).then((code) => { process.exitCode = code; });
}
