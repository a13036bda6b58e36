// A user who may not open /dev/kvm is a misconfigured machine, not a kernel without KVM: `kvm-xen test`
// run as such a user (nobody, with no groups) against this host's real /dev/kvm must fail (exit 1) and
// say why, never skip (exit 4) — a CI gate that accepts skips would pass it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

import t from 'tap';

import { cliPath } from '../bin/suite-in-vm';
import { projectRoot } from '../lib/paths';
import { selftests } from '../selftests/suite';

const NOBODY = 65534;

t.test('kvm-xen test as a user without access to /dev/kvm: exit 1 with EACCES, no skip', async (t) => {
  if (process.getuid?.() !== 0) return t.plan(0, 'needs root, to run the CLI as another user');
  const device = fs.statSync('/dev/kvm', { throwIfNoEntry: false });
  if (!device) return t.plan(0, 'this machine has no /dev/kvm');
  if ((device.mode & 0o006) !== 0) return t.plan(0, '/dev/kvm is open to every user here: no user lacks access');

  const run = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, cliPath(), 'test'], {
    cwd: projectRoot, encoding: 'utf8', timeout: 120000,
  });
  t.equal(run.status, 1, `a failure, not a skip (stderr: ${run.stderr.trim().slice(-300)})`);
  t.notMatch(run.stdout, /# SKIP/, 'nothing reported as skipped');
  const reasons = run.stdout.split('\n').filter((line) => /Bail out! Failed to open '\/dev\/kvm': EACCES/.test(line));
  t.equal(reasons.length, selftests.length, `each selftest says why:\n${reasons.join('\n')}`);
  t.match(run.stdout, new RegExp(`^# Totals: pass:0 fail:${selftests.length} xfail:0 xpass:0 skip:0 error:0$`, 'm'), 'one failure per selftest');
});
