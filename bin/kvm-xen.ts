#!/usr/bin/env node
// The kvm-xen command line: one verb per file under bin/commands/. `--help`, option errors and the
// library's errors are handled here, once for every verb.
import { BuildError, PatchError } from '../lib/kbuild';
import { KernelNotFound } from '../lib/debian/kernel';
import { CacheError } from '../lib/cache';
import { MissingPackages } from '../lib/debian/apt';
import { CorruptPackage, PackageError } from '../lib/debian/packages';
import { KvmError } from '../lib/kvm';
import { ProgramError } from '../lib/process';
import { VmError, vmExitStatus } from '../lib/vm';
import { type Command, isUsageError } from './commands/command';
import { commands } from './commands';

function usage(): string {
  const lines = ['usage: kvm-xen <command> [options]', '', 'commands:'];
  for (const [name, command] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${command.summary}`);
  lines.push('', "Run 'kvm-xen <command> --help' for a command's options.");
  return lines.join('\n');
}

/** Asks for help: --help or -h among the verb's own arguments (not in a command after `--`). */
function wantsHelp(argv: readonly string[]): boolean {
  const dash = argv.indexOf('--');
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  return own.includes('--help') || own.includes('-h');
}

/** The exit status for an error the library reports by design (a refusal, a failed build); else undefined. */
function failureStatus(error: unknown): number | undefined {
  if (error instanceof VmError) return error.status;
  if (error instanceof KernelNotFound || error instanceof CorruptPackage) return vmExitStatus.badKernel;
  if (error instanceof CacheError) return 73;  // EX_CANTCREAT
  if (error instanceof PatchError) return error.reason === 'missing' ? 66 : 65;
  if (error instanceof MissingPackages) return vmExitStatus.missingTool;
  if (error instanceof BuildError || error instanceof PackageError || error instanceof ProgramError || error instanceof KvmError) return 1;
  return undefined;
}

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
    process.stdout.write(usage() + '\n');
    return verb === undefined ? 64 : 0;
  }
  const command: Command | undefined = commands[verb];
  if (command === undefined) {
    process.stderr.write(`kvm-xen: unknown command '${verb}'\n${usage()}\n`);
    return 64;
  }
  if (wantsHelp(rest)) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    const usual = isUsageError(error) ? 64 : failureStatus(error);
    const status = command.errorStatus?.(rest, usual ?? 1) ?? usual;
    if (status === undefined) throw error;
    process.stderr.write(`kvm-xen ${verb}: ${error instanceof Error ? error.message : String(error)}\n${isUsageError(error) ? `${command.usage}\n` : ''}`);
    if (usual !== status) process.stderr.write(`kvm-xen ${verb}: exit ${status} instead of ${usual ?? 1} (see 'kvm-xen ${verb} --help')\n`);
    return status;
  }
}

main(process.argv.slice(2)).then(
  (status) => { process.exitCode = status; },
  (error: unknown) => {
    process.stderr.write(`kvm-xen: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
