// kselftest conventions for our selftest programs: TAP 13 on stdout, one line per result, "# Totals",
// and the exit codes of tools/testing/selftests/kselftest.h.
import { Writable } from 'node:stream';

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
  /** Count known failures (TODO) as failures. */
  strict?: boolean;
  out?: Pick<Writable, 'write'>;
}

export class Tap {
  private count = 0;
  private readonly totals = { pass: 0, fail: 0, xfail: 0, xpass: 0, skip: 0, error: 0 };
  private readonly out: Pick<Writable, 'write'>;
  private readonly strict: boolean;

  constructor(options: TapOptions = {}) {
    this.out = options.out ?? process.stdout;
    this.strict = options.strict ?? false;
    this.line('TAP version 13');
  }

  plan(count: number): void {
    this.line(`1..${count}`);
  }

  /** The whole test is skipped: "1..0 # SKIP reason", as ksft_exit_skip() prints it. */
  skipAll(reason: string): void {
    this.line(`1..0 # SKIP ${reason}`);
  }

  pass(name: string): void {
    this.totals.pass++;
    this.line(`ok ${++this.count} ${name}`);
  }

  fail(name: string, details: readonly string[] = []): void {
    this.totals.fail++;
    this.line(`not ok ${++this.count} ${name}`);
    for (const detail of details) this.diag(detail);
  }

  skip(name: string, reason: string): void {
    this.totals.skip++;
    this.line(`ok ${++this.count} ${name} # SKIP ${reason}`);
  }

  /**
   * A known failure (a kernel gap we report but do not count): "not ok N name # TODO reason". With
   * strict, it is an ordinary failure. An expected failure that passes is just "ok".
   */
  knownFailure(name: string, reason: string, details: readonly string[] = []): void {
    if (this.strict) {
      this.fail(`${name} (known kernel gap: ${reason})`, details);
      return;
    }
    this.totals.xfail++;
    this.line(`not ok ${++this.count} ${name} # TODO ${reason}`);
    for (const detail of details) this.diag(detail);
  }

  diag(message: string): void {
    for (const text of message.split('\n')) this.line(`# ${text}`);
  }

  bailOut(reason: string): void {
    this.line(`Bail out! ${reason}`);
  }

  printTotals(): void {
    const t = this.totals;
    this.line(`# Totals: pass:${t.pass} fail:${t.fail} xfail:${t.xfail} xpass:${t.xpass} skip:${t.skip} error:${t.error}`);
  }

  /** 1 if anything failed; 4 if nothing ran but skips; else 0. */
  exitCode(): number {
    const t = this.totals;
    if (t.fail > 0 || t.error > 0) return KSFT_FAIL;
    if (t.pass === 0 && t.xfail === 0 && t.skip > 0) return KSFT_SKIP;
    return KSFT_PASS;
  }

  private line(text: string): void {
    this.out.write(`${text}\n`);
  }
}

/**
 * Runs a selftest's main: TAP out, kselftest exit code. A TestSkip before any result is the
 * whole-test skip; any other escape is a failure, reported with a Bail out!.
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
    tap.bailOut(error instanceof Error ? error.message : String(error));
    tap.printTotals();
    return KSFT_FAIL;
  }
  tap.printTotals();
  return tap.exitCode();
}

export interface SelftestArgs {
  /** -v / --verbose: the upstream test's progress messages, as TAP comments. */
  verbose: boolean;
  /** --strict: known kernel gaps (TODO) count as failures. */
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
