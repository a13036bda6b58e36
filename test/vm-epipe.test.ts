// Output piped into a command that stops reading early (| head): the runner stops the guest and exits
// quietly with 141 (128 + SIGPIPE), as a Unix tool killed by SIGPIPE does; no error, no QEMU left,
// no run directory left.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

import t from 'tap';

import { cliPath } from '../bin/suite-in-vm';
import { projectRoot } from '../lib/paths';
import { vmExitStatus } from '../lib/vm';
import { processesMentioning } from './helpers/vm';

t.test('kvm-xen vm -- ... | head -c 10', async (t) => {
  const tmp = fs.mkdtempSync('/tmp/kvm-xen-epipe-');
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  // 50 MB would take minutes to stream whole: an early stop is what makes this quick.
  const pipeline = `"$0" "$1" vm --timeout 300 -- sh -c 'yes | head -c 50000000' | head -c 10; echo "runner status \${PIPESTATUS[0]}" >&2`;
  const run = spawnSync('bash', ['-c', pipeline, process.execPath, cliPath()], { cwd: projectRoot, env: { ...process.env, TMPDIR: tmp }, encoding: 'utf8', timeout: 300000 });
  t.equal(run.stdout, 'y\ny\ny\ny\ny\n', 'head got its 10 bytes');
  // The one progress line a run may print before its output (a warm start's saving boot) is not about the pipe.
  const said = run.stderr.split('\n').filter((line) => !line.startsWith('kvm-xen: warm start: ')).join('\n');
  t.equal(said, `runner status ${vmExitStatus.outputClosed}\n`, 'the runner said nothing of the pipe and ended with 128 + SIGPIPE');
  t.same(fs.readdirSync(tmp), [], 'the run directory was removed');
  t.same(processesMentioning(tmp), [], 'no QEMU of the run is left');
});
