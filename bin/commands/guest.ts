// kvm-xen guest build: compile a user's freestanding C guest program with the runtime (lib/guest).
import { parseArgs } from 'node:util';

import { buildGuest, GuestBuildError, guestRuntimeDir } from '../../lib/guest';
import type { Command } from './command';

const usage = `usage: kvm-xen guest build FILE.c [-o FILE.elf] [-I DIR]... [-D NAME[=VALUE]]...

Compiles FILE.c, a freestanding guest program with a guest_main(), together with the guest runtime
(#include "guest.h" for GUEST_SYNC, GUEST_ASSERT, GUEST_PRINT, interrupt handlers, the xAPIC; "xen.h"
for Xen hypercalls), with the flags of the runtime's flags.json. The runtime is in
  ${guestRuntimeDir}
Load the ELF with GuestMachine.create(kvm, { program: 'path/to/FILE.elf' }).

  -o, --output FILE.elf  where to write the program (default: FILE.elf beside FILE.c)
  -I, --include DIR      another directory for #include
  -D, --define NAME[=V]  a preprocessor definition
  --cc COMPILER          the C compiler (default gcc)

Exit status: 0 built; 1 the compiler refused the program (its messages on stderr); 64 usage error;
66 FILE.c does not exist; 69 no C compiler.`;

export const guest: Command = {
  summary: 'build your own freestanding C guest program with the runtime (guest build FILE.c)',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        output: { type: 'string', short: 'o' },
        include: { type: 'string', short: 'I', multiple: true },
        define: { type: 'string', short: 'D', multiple: true },
        cc: { type: 'string' },
      },
    });
    const [action, source, ...extra] = positionals;
    if (action !== 'build' || source === undefined || extra.length > 0) {
      const why = action !== 'build' ? `unknown action '${action ?? ''}' (only 'build')` : source === undefined ? 'FILE.c is missing' : `unexpected ${extra.join(' ')}`;
      process.stderr.write(`kvm-xen guest: ${why}\n${usage}\n`);
      return 64;
    }
    try {
      const result = await buildGuest(source, {
        output: values.output,
        cc: values.cc,
        includeDirs: values.include,
        extraFlags: (values.define ?? []).map((definition) => `-D${definition}`),
      });
      process.stderr.write(result.diagnostics);
      process.stdout.write(`${result.output}\n`);
      return 0;
    } catch (error) {
      // Here, not in the dispatcher: the compiler's messages go with it, and each cause has its status.
      if (!(error instanceof GuestBuildError)) throw error;
      process.stderr.write(error.diagnostics);
      process.stderr.write(`kvm-xen guest: ${error.message}\n`);
      return { ERR_GUEST_SOURCE_MISSING: 66, ERR_GUEST_NO_COMPILER: 69, ERR_GUEST_COMPILE: 1 }[error.code];
    }
  },
};
