// Building a user's own guest program (kvm-xen guest build / buildGuest): a C file outside the
// project's guest directories, compiled with the runtime into an ELF that GuestMachine runs on the host's
// /dev/kvm; and what the build says when the source, the compiler or the program is wrong.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import { buildGuest, GuestBuildError, GuestMachine, type StopUcall } from '../lib/guest';
import { projectRoot } from '../lib/paths';
import { kvmOrSkip } from './helpers/kvm';
import { runCli } from './helpers/vm';

const counterSource = path.join(projectRoot, 'test', 'guest-build', 'counter.c');

/** A temporary directory, removed when the test ends. */
function scratch(t: tap.Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-guest-build-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs a counter guest to its end: its syncs, then what it printed. */
function runCounter(t: tap.Test, elf: string): { syncs: StopUcall[]; prints: string[] } | undefined {
  const kvm = kvmOrSkip(t);
  if (!kvm) return undefined;
  const machine = GuestMachine.create(kvm, { program: elf });
  t.teardown(() => machine.close());
  const prints: string[] = [];
  machine.onPrint = (message) => prints.push(message);
  const syncs: StopUcall[] = [];
  for (;;) {
    const stop = machine.runUntilUcall({ timeoutMs: 5000 });
    syncs.push(stop);
    if (stop.cmd === 'done') return { syncs, prints };
  }
}

t.test('buildGuest compiles a C file with the runtime into a program GuestMachine runs', async (t) => {
  const dir = scratch(t);
  const output = path.join(dir, 'counter.elf');
  const result = await buildGuest(counterSource, { output, extraFlags: ['-DSTEPS=4'] });
  t.equal(result.output, output);
  t.ok(fs.statSync(output).size > 0, 'the ELF is written');
  t.equal(result.command[0], 'gcc');
  const run = runCounter(t, output);
  if (!run) return;
  t.same(run.syncs, [
    { cmd: 'sync', args: [1n, 1n] }, { cmd: 'sync', args: [2n, 3n] }, { cmd: 'sync', args: [3n, 6n] }, { cmd: 'sync', args: [4n, 10n] },
    { cmd: 'done' },
  ], 'the guest counted with -DSTEPS=4');
  t.same(run.prints, ['total 10']);
});

t.test('buildGuest says what is wrong: no source, no compiler, a program that does not compile, bad options', async (t) => {
  const dir = scratch(t);
  await t.rejects(buildGuest(path.join(dir, 'missing.c')), { name: 'GuestBuildError', code: 'ERR_GUEST_SOURCE_MISSING', message: /missing\.c: no such file/ });
  await t.rejects(buildGuest(counterSource, { output: path.join(dir, 'x.elf'), cc: 'kvm-xen-no-such-cc' }), { code: 'ERR_GUEST_NO_COMPILER', message: /kvm-xen-no-such-cc: not found/ });
  const broken = path.join(dir, 'broken.c');
  fs.writeFileSync(broken, '#include "guest.h"\nvoid guest_main(void) { undeclared_thing(); }\n');
  const error = await buildGuest(broken).then(() => undefined, (caught: unknown) => caught);
  t.ok(error instanceof GuestBuildError, 'a GuestBuildError');
  t.equal((error as GuestBuildError).code, 'ERR_GUEST_COMPILE');
  t.match((error as GuestBuildError).diagnostics, /broken\.c:2:.*undeclared_thing/, 'the compiler\'s message, with file and line');
  t.notOk(fs.existsSync(path.join(dir, 'broken.elf')), 'no ELF left behind');
  await t.rejects(buildGuest(5 as never), { name: 'TypeError', message: /source must be the path of a C file/ });
  await t.rejects(buildGuest(counterSource, { includeDirs: 'x' as never }), { name: 'TypeError', message: /options\.includeDirs/ });
  await t.rejects(buildGuest(broken, { output: broken }), { name: 'TypeError', message: /options\.output must not be the source/ });
});

t.test('kvm-xen guest build: the ELF path on stdout, and the documented exit statuses', async (t) => {
  const dir = scratch(t);
  const output = path.join(dir, 'c.elf');
  const built = await runCli(['guest', 'build', counterSource, '-o', output, '-D', 'STEPS=2']);
  t.equal(built.status, 0, built.stderr);
  t.equal(built.stdout, `${output}\n`);
  const run = runCounter(t, output);
  if (run) t.same(run.prints, ['total 3'], 'the -D reached the program');

  t.equal((await runCli(['guest', 'build'])).status, 64, 'no FILE.c: usage error');
  t.equal((await runCli(['guest', 'compile', counterSource])).status, 64, 'an unknown action: usage error');
  t.equal((await runCli(['guest', 'build', counterSource, '--bogus'])).status, 64, 'an unknown option: usage error');
  const missing = await runCli(['guest', 'build', path.join(dir, 'nope.c')]);
  t.equal(missing.status, 66, 'a missing source: 66');
  t.match(missing.stderr, /nope\.c: no such file/);
  t.equal((await runCli(['guest', 'build', counterSource, '-o', output, '--cc', 'kvm-xen-no-such-cc'])).status, 69, 'no compiler: 69');
  const broken = path.join(dir, 'broken.c');
  fs.writeFileSync(broken, 'void guest_main(void) { return 1; }\n');
  const failed = await runCli(['guest', 'build', broken]);
  t.equal(failed.status, 1, 'a program that does not compile: 1');
  t.match(failed.stderr, /broken\.c:1:/, 'with the compiler\'s messages');
});
