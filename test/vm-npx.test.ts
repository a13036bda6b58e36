// npx in the guest: the host's home (npm's cache) is read-only there and the registry unreachable, so
// npm needs its cache in the scratch /tmp and must not wait on the network. A project that has
// kvm-xen installed runs it with npx.
import fs from 'node:fs';
import path from 'node:path';

import t from 'tap';

import { cliPath } from '../bin/suite-in-vm';
import { runCli } from './helpers/vm';

t.test('kvm-xen vm -- npx kvm-xen info', async (t) => {
  // A user's project with kvm-xen installed (under /tmp: the runner keeps the command's directory).
  const project = fs.mkdtempSync('/tmp/kvm-xen-npx-');
  t.teardown(() => fs.rmSync(project, { recursive: true, force: true }));
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', dependencies: { 'kvm-xen': '*' } }));
  fs.mkdirSync(path.join(project, 'node_modules', '.bin'), { recursive: true });
  fs.writeFileSync(path.join(project, 'node_modules', '.bin', 'kvm-xen'), `#!/bin/sh\nexec ${process.execPath} ${cliPath()} "$@"\n`, { mode: 0o755 });

  // npm takes a minute or more to start under TCG on a busy machine: a generous limit.
  const run = await runCli(['vm', '--timeout', '900', '--', 'sh', '-c', 'npx kvm-xen info; echo "npx status $?"; ls -d /tmp/.npm'], { cwd: project });
  t.equal(run.status, 0, run.stderr);
  t.match(run.stdout, /^\/dev\/kvm: KVM API version 12$/m, 'kvm-xen info ran in the guest through npx');
  t.match(run.stdout, /^npx status 0$/m);
  t.match(run.stdout, /^\/tmp\/\.npm$/m, "npm's cache is in the scratch /tmp");
});
