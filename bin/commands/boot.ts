// kvm-xen boot: boot a kernel in this project's own VMM (lib/vmm) on /dev/kvm, run one command in a
// busybox initramfs, exit with its status.
import { parseArgs } from 'node:util';

import { VmError, vmExitStatus } from '../../lib/vm';
import { bootCommand, type BootResult } from '../../lib/vmm';
import type { MigrationReport } from '../../lib/vmm/migrate';
import { reportVmResult } from '../progress';
import type { Command } from './command';

const usage = `usage: kvm-xen boot [OPTIONS] -- CMD [ARGS...]

Boots a Linux bzImage on /dev/kvm with kvm-xen's own VMM (no firmware, no QEMU): in-kernel irqchip
and PIT, a 16550 console on COM1, an MP table for the vCPUs. CMD runs in a busybox initramfs (no
shell in between: each ARG arrives as given; only busybox's applets exist there), its stdout and
stderr come back together over the serial line, and kvm-xen exits with its status.

Options:
  --kernel K      debian (default: the newest Debian 6.12 amd64 kernel), debian:VERSION, a bzImage
                  file, or a built kernel tree
  --smp N         vCPUs (default 1)
  --mem MB        memory in MiB (default 512, at most 3072)
  --timeout S     limit for the whole run in seconds (default 1800)
  --append ARGS   extra kernel command-line arguments
  --env K=V       set an environment variable for the command (repeatable)
  --xen           present Xen HVM to the guest on KVM's Xen emulation: Xen CPUID and hypercalls,
                  shared_info, vcpu_info, event channels for its timer and IPIs (exit 69 without it)
  --stdin         type our stdin into the console: it becomes the command's stdin (default /dev/null)
  --verbose       show the guest kernel's console on stderr while it boots
  --migrate-after S
                  S seconds after CMD starts, live-migrate the running guest into a fresh VM
                  (pre-copy with dirty-page logging, then vCPUs, irqchip, PIT, kvmclock, UART) and
                  go on there; one line on stderr reports the pre-copy rounds, downtime and total

Exit status: the command's own, or as for kvm-xen vm:
  ${vmExitStatus.usage}   usage error                     ${vmExitStatus.badKernel}   kernel missing or not a bzImage
  ${vmExitStatus.missingTool}   /dev/kvm or busybox missing     ${vmExitStatus.guestPanic}   guest kernel panic, or KVM failed
  ${vmExitStatus.noStart}   command never started           ${vmExitStatus.timeout}  --timeout passed
  ${vmExitStatus.interrupted}  interrupted (Ctrl-C)

This machine's /dev/kvm may not run an unmodified kernel (a PVM backend does not): run it nested,
kvm-xen vm -- node dist/bin/kvm-xen.js boot --kernel BZIMAGE -- CMD.`;

function positiveInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0) throw new VmError('usage', `--${flag} needs a positive integer, got ${JSON.stringify(value)}`);
  return number;
}

/** The one line `--migrate-after` prints (test/vmm-migrate.test.ts reads it). */
export function describeMigration(report: MigrationReport): string {
  const rounds = report.rounds.map((round) => `${round.pages}`).join(',');
  const parts = report.downtimeParts;
  const gaps = [...report.msrGaps.unreadable, ...report.msrGaps.refused].map((index) => `0x${index.toString(16)}`);
  return `kvm-xen boot: migrated: pre-copy rounds=${report.rounds.length} pages=${rounds}; final pages=${report.finalPages}; `
    + `downtime ${report.downtimeMs.toFixed(1)} ms (pause ${parts.pauseMs.toFixed(1)}, save ${parts.saveMs.toFixed(1)}, restore ${parts.restoreMs.toFixed(1)}); `
    + `total ${report.totalMs.toFixed(1)} ms`
    + (gaps.length > 0 ? `; MSRs not carried: ${gaps.join(' ')}` : '');
}

/** `--verbose --xen`'s line: which hypercalls left KVM for this VMM, and how often. */
export function describeXenHypercalls(counts: NonNullable<BootResult['xenHypercalls']>): string {
  const list = (table: Record<string, number>): string => Object.entries(table).sort(([, a], [, b]) => b - a).map(([call, times]) => `${call} x${times}`).join(', ') || 'none';
  return `kvm-xen boot: Xen hypercalls passed up to the VMM: ${list(counts.passedUp)}; refused: ${list(counts.refused)}`;
}

export const boot: Command = {
  summary: 'boot a kernel in kvm-xen\'s own VMM on /dev/kvm and run a command inside it',
  usage,
  async run(argv) {
    const split = argv.indexOf('--');
    const { values } = parseArgs({
      args: split < 0 ? argv : argv.slice(0, split),
      options: {
        kernel: { type: 'string' }, smp: { type: 'string' }, mem: { type: 'string' }, timeout: { type: 'string' },
        append: { type: 'string' }, env: { type: 'string', multiple: true }, stdin: { type: 'boolean' },
        verbose: { type: 'boolean' }, 'migrate-after': { type: 'string' }, xen: { type: 'boolean' },
      },
    });
    const command = split < 0 ? [] : argv.slice(split + 1);
    if (command.length === 0) throw new VmError('usage', 'no command: kvm-xen boot [OPTIONS] -- CMD [ARGS...]');
    const env: Record<string, string> = {};
    for (const pair of values.env ?? []) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new VmError('usage', `--env needs NAME=VALUE, got ${JSON.stringify(pair)}`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    const timeout = positiveInteger('timeout', values.timeout);
    const cpus = positiveInteger('smp', values.smp);
    const memoryMb = positiveInteger('mem', values.mem);
    const migrateAfter = values['migrate-after'] === undefined ? undefined : Number(values['migrate-after']);
    if (migrateAfter !== undefined && !(Number.isFinite(migrateAfter) && migrateAfter >= 0)) {
      throw new VmError('usage', `--migrate-after needs a number of seconds >= 0, got ${JSON.stringify(values['migrate-after'])}`);
    }
    const result = await bootCommand({
      command, env, output: process.stdout,
      ...(values.kernel === undefined ? {} : { kernel: values.kernel }),
      ...(cpus === undefined ? {} : { cpus }),
      ...(memoryMb === undefined ? {} : { memoryMb }),
      ...(timeout === undefined ? {} : { timeoutMs: timeout * 1000 }),
      ...(values.append === undefined ? {} : { append: values.append }),
      ...(values.verbose ? { console: process.stderr } : {}),
      ...(values.stdin ? { input: process.stdin } : {}),
      ...(values.xen ? { xen: true } : {}),
      ...(migrateAfter === undefined ? {} : {
        migrateAfterMs: migrateAfter * 1000,
        onMigrated: (outcome) => process.stderr.write('error' in outcome
          ? `kvm-xen boot: migration failed, the guest runs on in the source: ${outcome.error.message}\n`
          : `${describeMigration(outcome.report)}\n`),
      }),
    });
    // Our stdin would keep the process alive after the guest is gone.
    if (values.stdin) process.stdin.destroy();
    if (values.verbose && result.xenHypercalls) process.stderr.write(`${describeXenHypercalls(result.xenHypercalls)}\n`);
    return reportVmResult(result, 'boot');
  },
};
