// What every CLI verb provides. run() returns the process exit status; the dispatcher (bin/kvm-xen.ts)
// answers --help, and reports option errors and the library's errors, for every verb.
export interface Command {
  readonly summary: string;
  /** The verb's --help text; also printed under a usage error. */
  readonly usage: string;
  run(argv: string[]): Promise<number>;
  /**
   * The exit status for an error that ends the verb, given the one the dispatcher would use (64 for a
   * usage error, a library error's own, 1 for anything else). For a verb whose statuses another
   * program reads with meanings of its own (bisect --run: git bisect run).
   */
  errorStatus?(argv: readonly string[], status: number): number;
}

/** A verb's own usage error (a bad value, an unknown name): reported like parseArgs' errors, status 64. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A UsageError, or an option error from node:util's parseArgs (unknown option, missing value, stray positional): the
 * CLI reports it with the verb's usage and exit status 64, whichever verb parsed.
 */
export function isUsageError(error: unknown): error is Error {
  if (error instanceof UsageError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
