#!/usr/bin/env node
// The kvm-xen command line: one verb per file under bin/commands/.
import { type Command, isUsageError } from './commands/command';
import { commands } from './commands';

function usage(): string {
  const lines = ['usage: kvm-xen <command> [options]', '', 'commands:'];
  for (const [name, command] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${command.summary}`);
  lines.push('', "Run 'kvm-xen <command> --help' for a command's options.");
  return lines.join('\n');
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
  try {
    return await command.run(rest);
  } catch (error) {
    if (!isUsageError(error)) throw error;
    process.stderr.write(`kvm-xen ${verb}: ${error.message}\n${command.usage}\n`);
    return 64;
  }
}

main(process.argv.slice(2)).then(
  (status) => { process.exitCode = status; },
  (error: unknown) => {
    process.stderr.write(`kvm-xen: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
