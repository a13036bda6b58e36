// A checkout under /tmp (where CI may clone) still runs in the VM: the guest's scratch tmpfs on /tmp
// must not hide the command's directory.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import t from 'tap';

import { projectRoot } from '../lib/paths';

t.test('kvm-xen vm from a directory under /tmp', async (t) => {
  const copy = fs.mkdtempSync('/tmp/kvm-xen-checkout-');
  t.teardown(() => fs.rmSync(copy, { recursive: true, force: true }));
  for (const part of ['dist', 'build', 'package.json']) fs.cpSync(path.join(projectRoot, part), path.join(copy, part), { recursive: true });
  fs.symlinkSync(path.join(projectRoot, 'node_modules'), path.join(copy, 'node_modules'));
  const run = spawnSync(process.execPath, [path.join(copy, 'dist', 'bin', 'kvm-xen.js'), 'vm', '--timeout', '240', '--',
    'sh', '-c', 'pwd; test -f dist/bin/kvm-xen.js && echo project-visible; touch /tmp/scratch && echo scratch-writable'],
  { cwd: copy, encoding: 'utf8', timeout: 300000 });
  t.equal(run.status, 0, run.stderr);
  t.equal(run.stdout, `${copy}\nproject-visible\nscratch-writable\n`);
});
