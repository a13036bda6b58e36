// The package as a user gets it (issue 12 item 4): `npm pack` of this tree, the tarball installed into a
// scratch project outside the repository, and there a guest program of the project's own — built with
// `npx kvm-xen guest build` and run with GuestMachine.create on the host's /dev/kvm (no Xen needed).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import t from 'tap';

import { projectRoot } from '../lib/paths';

const run = promisify(execFile);

const guestSource = `/* scratch project's own guest: squares with the host */
#include "guest.h"

void guest_main(void) {
  for (uint64_t n = 1; n <= 3; n++) GUEST_SYNC(n, n * n);
  GUEST_PRINT("squared %d numbers", 3);
}
`;

// Runs the guest from the installed package, printing one JSON line per ucall.
const hostScript = `const { Kvm, GuestMachine } = require('kvm-xen');
const kvm = Kvm.open();
const machine = GuestMachine.create(kvm, { program: require('node:path').resolve(process.argv[2]) });
const seen = [];
machine.onPrint = (message) => seen.push({ cmd: 'print', message });
for (;;) {
  const stop = machine.runUntilUcall({ timeoutMs: 5000 });
  seen.push({ cmd: stop.cmd, args: (stop.args ?? []).map(String) });
  if (stop.cmd === 'done') break;
}
machine.close();
kvm.close();
process.stdout.write(JSON.stringify(seen));
`;

t.test('a scratch project installs the packed tarball, builds its own guest and runs it', async (t) => {
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
  } catch (error) {
    t.plan(0, `/dev/kvm is not available: ${(error as Error).message}`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-package-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // The tree is compiled already (the tests run from dist/): pack it as it is.
  const packed = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: projectRoot, maxBuffer: 64 << 20 });
  const tarball = path.join(dir, packed.stdout.trim().split('\n').pop()!);
  t.ok(fs.existsSync(tarball), `packed ${path.basename(tarball)}`);

  const project = path.join(dir, 'scratch');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'scratch', version: '1.0.0', private: true }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: project, maxBuffer: 64 << 20 });
  t.ok(fs.existsSync(path.join(project, 'node_modules', 'kvm-xen', 'build', 'Release', 'kvm_xen.node')), 'the install built the addon');

  fs.writeFileSync(path.join(project, 'squares.c'), guestSource);
  fs.writeFileSync(path.join(project, 'run.js'), hostScript);
  const built = await run('npx', ['kvm-xen', 'guest', 'build', 'squares.c', '-o', 'squares.elf'], { cwd: project });
  t.equal(built.stdout, `${path.join(fs.realpathSync(project), 'squares.elf')}\n`, 'the CLI names the ELF it wrote');

  const ran = await run(process.execPath, ['run.js', 'squares.elf'], { cwd: project });
  t.same(JSON.parse(ran.stdout), [
    { cmd: 'sync', args: ['1', '1'] }, { cmd: 'sync', args: ['2', '4'] }, { cmd: 'sync', args: ['3', '9'] },
    { cmd: 'print', message: 'squared 3 numbers' }, { cmd: 'done', args: [] },
  ], 'the guest ran under the installed package');
});
