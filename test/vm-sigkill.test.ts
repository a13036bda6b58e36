// A runner killed by SIGKILL (its handlers cannot run) must not leave its QEMU running, and the next
// run removes the directory it left behind in /tmp.
import fs from 'node:fs';
import path from 'node:path';

import t from 'tap';

import { processesMentioning, runCli, startCli } from './helpers/vm';

const runDirs = (tmp: string): string[] => fs.readdirSync(tmp).filter((entry) => entry.startsWith('kvm-xen-vm-')).map((entry) => path.join(tmp, entry));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

t.test('SIGKILL of the runner takes its QEMU down; the next run removes its directory', async (t) => {
  // A private TMPDIR: the run directories of other runs on this machine stay out of the picture.
  const tmp = fs.mkdtempSync('/tmp/kvm-xen-sigkill-');
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const env = { ...process.env, TMPDIR: tmp };

  const runner = startCli(['vm', '--timeout', '300', '--', 'sh', '-c', 'echo up; exec sleep 100000'], { env });
  await runner.stdoutIncludes('up\n');
  const [dir] = runDirs(tmp);
  t.ok(dir, 'the run has its directory');
  const qemu = processesMentioning(dir!);
  t.ok(qemu.length > 0, `QEMU runs with ${dir} in its command line`);

  runner.child.kill('SIGKILL');
  const killed = await runner.done;
  t.equal(killed.signal, 'SIGKILL');
  let left = processesMentioning(dir!);
  for (let waited = 0; left.length > 0 && waited < 5000; waited += 100) {
    await sleep(100);
    left = processesMentioning(dir!);
  }
  t.same(left, [], 'no process of that run is left within 5 s');
  for (const pid of left) process.kill(pid, 'SIGKILL');
  t.ok(fs.existsSync(dir!), 'the killed runner could not remove its directory');

  const next = await runCli(['vm', '--timeout', '300', '--', 'true'], { env });
  t.equal(next.status, 0, next.stderr);
  t.notOk(fs.existsSync(dir!), 'the next run removed the stale directory');
  t.same(runDirs(tmp), [], 'and its own');
});
