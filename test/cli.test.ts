// The CLI's one rule for option errors: whichever verb parses its options, an unknown option is a usage
// error — exit status 64, the option named, the verb's usage printed — and nothing else runs. Also the
// other errors found before anything is fetched or booted: bad values (64), bad patches (65/66), a
// cache that cannot be created (73).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import { cliPath } from '../bin/suite-in-vm';
import { projectRoot } from '../lib/paths';
import { runCli } from './helpers/vm';

for (const verb of ['info', 'setup', 'test', 'build-kvm']) {
  t.test(`kvm-xen ${verb} --bogus is a usage error`, async (t) => {
    const run = await runCli([verb, '--bogus']);
    t.equal(run.status, 64, 'exit status 64');
    t.match(run.stderr, new RegExp(`^kvm-xen ${verb}: Unknown option '--bogus'[\\s\\S]*\\nusage: kvm-xen ${verb} `), 'the option named, then the verb\'s usage');
    t.equal(run.stdout, '', 'nothing ran');
  });
}

// Every usage error is found before anything is fetched or booted: KVM_XEN_QEMU names no program, so
// a run that got as far as the runner's host tools would end 69 instead.
const noBoot = { env: { ...process.env, KVM_XEN_QEMU: '/nonexistent/qemu-system-x86_64' } };

const usageErrors: Array<{ args: string[]; says: RegExp }> = [
  { args: ['vm', '--env', 'BAD-NAME=x', '--', 'true'], says: /env name "BAD-NAME" is not a valid shell variable name/ },
  { args: ['vm', '--smp', '100000', '--', 'true'], says: /smp must be an integer from 1 to 288/ },
  { args: ['vm', '--mem', '99999999', '--', 'true'], says: /memMb must be an integer from 128 to \d+ .*host's memory/ },
  { args: ['vm', '--accel', 'xen', '--', 'true'], says: /--accel must be auto, kvm or tcg/ },
  { args: ['test', 'nosuchtest'], says: /unknown selftest nosuchtest; known: xen_shinfo_test/ },
  { args: ['test', '--vm', 'nosuchtest'], says: /unknown selftest nosuchtest/ },
  { args: ['test', '--vm', '--repeat', '0'], says: /--repeat needs a positive integer, got "0"/ },
  { args: ['test', '--vm', '--smp', '0'], says: /--smp needs a positive integer/ },
  { args: ['compare', '--kernel', 'debian', '--kernel', 'debian', '--', 'nosuchtest'], says: /unknown selftest nosuchtest/ },
  { args: ['boot', '--migrate-after', 'soon', '--', 'true'], says: /--migrate-after needs a number of seconds >= 0, got "soon"/ },
  { args: ['boot', '--migrate-after=-1', '--', 'true'], says: /--migrate-after needs a number of seconds >= 0/ },
];

for (const { args, says } of usageErrors) {
  t.test(`kvm-xen ${args.join(' ')}: 64 before anything boots`, async (t) => {
    const run = await runCli(args, noBoot);
    t.equal(run.status, 64, `exit status 64 (${run.stderr.split('\n')[0]})`);
    t.match(run.stderr, says, 'says what is wrong');
    t.equal(run.stdout, '', 'nothing ran');
  });
}

t.test('test --vm --help and --list answer on the host, without a VM', async (t) => {
  const help = await runCli(['test', '--vm', '--help'], noBoot);
  t.equal(help.status, 0);
  t.match(help.stdout, /^usage: kvm-xen test /);
  const list = await runCli(['test', '--vm', '--list'], noBoot);
  t.equal(list.status, 0, `exit status 0 (${list.stderr.trim()})`);
  t.match(list.stdout, /^xen_shinfo_test\s+port of the kernel selftest/m);
});

t.test('build-kvm refuses a missing (66), empty (65) or non-applying (65) patch before building', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-patch-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const empty = path.join(dir, 'empty.patch');
  fs.writeFileSync(empty, '');
  const stale = path.join(dir, 'stale.patch');
  fs.writeFileSync(stale, '--- a/arch/x86/kvm/xen.c\n+++ b/arch/x86/kvm/xen.c\n@@ -1,1 +1,1 @@\n-this line is not in xen.c\n+nor this one\n');
  const cases: Array<[string, number, RegExp]> = [
    [path.join(dir, 'missing.patch'), 66, /patch .*missing\.patch cannot be read: ENOENT/],
    [empty, 65, /patch .*empty\.patch is empty or not a patch/],
    [stale, 65, /patch .*stale\.patch does not apply to linux-source-6\.12/],
  ];
  for (const [patch, status, says] of cases) {
    const run = await runCli(['build-kvm', '--patch', patch]);
    t.equal(run.status, status, `${path.basename(patch)}: exit status ${status}`);
    t.match(run.stderr, says, 'says what is wrong with it');
    t.notMatch(run.stderr, /building KVM modules/, 'before the build');
  }
});

t.test('a HOME the user cannot write: 73 and what to set, not a raw EACCES (as user nobody)', { skip: process.getuid?.() !== 0 && 'needs root to become nobody' }, async (t) => {
  const run = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cliPath(), 'vm', '--', 'true'], {
      // A clean environment: tap's hooks in the inherited one would try to write their records as nobody.
      env: { PATH: process.env['PATH'], HOME: '/nonexistent', KVM_XEN_NO_INSTALL: '1' },
      cwd: projectRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('close', (status) => resolve({ status, stderr }));
  });
  t.equal(run.status, 73, `exit status 73 (${run.stderr.trim()})`);
  t.match(run.stderr, /cannot create the cache directory \/nonexistent\/\.cache\/kvm-xen \(EACCES\); set KVM_XEN_CACHE \(or XDG_CACHE_HOME\) to a writable directory/);
});
