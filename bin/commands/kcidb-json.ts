// --json FILE for `test` and `compare`: record the suite's TAP as it streams by (with each line's
// arrival time), and afterwards write the run as KCIDB v5 JSON (lib/kcidb).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { kcidbReport, mergeReports, TimedLines, type KcidbReport } from '../../lib/kcidb';
import { parseTap } from '../../lib/tap/parse';
import type { Sink } from '../../lib/vm';

export const jsonOptionHelp = '  --json FILE write the results as KCIDB v5 JSON to FILE too (for KernelCI; see README)';

/** A usage error the dispatcher reports with the verb's usage (status 64), as for parseArgs' own. */
class JsonOptionError extends Error {
  readonly code = 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE';
}

/** Takes `--json FILE` (or --json=FILE) out of argv; the rest is left for the verb's own parsing. */
export function takeJsonOption(argv: readonly string[]): { file: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (arg !== '--json' && !arg.startsWith('--json=')) {
      rest.push(arg);
      continue;
    }
    const value = arg === '--json' ? argv[++i] : arg.slice('--json='.length);
    if (!value || value.startsWith('-')) throw new JsonOptionError('--json needs a file name');
    file = value;
  }
  return { file, rest };
}

/** sha256 over the .ko files of a KVM module directory, in name order: which build was tested. */
function modulesDigest(dir: string): string {
  const hash = crypto.createHash('sha256');
  for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.ko')).sort()) {
    hash.update(name).update('\0').update(fs.readFileSync(path.join(dir, name)));
  }
  return hash.digest('hex');
}

export interface RunFacts {
  /** The kernel as the runner resolved it (VmResult.kernel), or undefined for this machine's. */
  kernel: string | undefined;
  /** The --kernel the user gave (debian, debian:VERSION, a file). */
  kernelSpec?: string | undefined;
  kvmModules?: string | undefined;
  environment: string;
}

/** One suite run being recorded. */
export class SuiteRecording {
  readonly lines = new TimedLines();
  startTime = new Date();
  readonly runId = `${this.startTime.toISOString().replace(/[-:.]/g, '')}_${crypto.randomBytes(4).toString('hex')}`;

  /** The runner retried in a fresh VM: what was recorded came from the failed attempt. */
  reset(): void {
    this.lines.reset();
    this.startTime = new Date();
  }

  /** A sink that records everything (and passes it on to `through`, if given). */
  sink(through?: Sink): Sink {
    return { write: (chunk) => { this.lines.write(chunk); return through ? through.write(chunk) : true; } };
  }

  report(facts: RunFacts): KcidbReport {
    // The runner describes a kernel with replaced KVM modules as "KERNEL with KVM modules from DIR":
    // the checkout is KERNEL; the modules make the build.
    const modulesSuffix = facts.kvmModules ? ` with KVM modules from ${path.resolve(facts.kvmModules)}` : undefined;
    const described = modulesSuffix && facts.kernel?.endsWith(modulesSuffix) ? facts.kernel.slice(0, -modulesSuffix.length) : facts.kernel;
    const kernel = described ?? `this machine's kernel ${os.release()} (${os.version()})`;
    const debian = facts.kernelSpec === undefined || facts.kernelSpec.startsWith('debian');
    return kcidbReport(parseTap(this.lines.output), {
      runId: this.runId,
      startTime: this.startTime,
      kernel,
      ...(facts.kernel !== undefined && debian ? { treeName: 'debian' } : {}),
      ...(facts.kvmModules ? { kvmModules: { dir: path.resolve(facts.kvmModules), digest: modulesDigest(facts.kvmModules) } } : {}),
      environment: facts.environment,
      timings: this.lines.resultTimings(),
    });
  }
}

export function writeKcidbJson(file: string, reports: readonly KcidbReport[]): void {
  fs.writeFileSync(file, `${JSON.stringify(mergeReports(reports), null, 2)}\n`);
  process.stderr.write(`kvm-xen: KCIDB v5 results written to ${file}\n`);
}
