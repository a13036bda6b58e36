// bisect --run answers `git bisect run`, which reads 0 as good, 125 as skip, 1-127 otherwise as bad and
// 128 or more as "stop the bisection". So whatever says nothing about the commit — a usage error
// (parsed here, or found by the runner once the kernel is known), a missing host tool — exits 128,
// never 64 or 69, and a real `git bisect run` stops at it instead of marking a commit bad (the same
// bisect with a command exiting 64 is shown to go wrong). No VM boots: QEMU is a stand-in that
// records being started, or a name that is not there.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import { cliPath } from '../bin/suite-in-vm';
import { runCli } from './helpers/vm';

function tempDir(t: tap.Test, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A stand-in for QEMU that records that it was started and fails. */
function recordingQemu(t: tap.Test): { env: NodeJS.ProcessEnv; booted: () => boolean } {
  const dir = tempDir(t, 'bisect-run-qemu-');
  const marker = path.join(dir, 'started');
  fs.writeFileSync(path.join(dir, 'qemu'), `#!/bin/sh\ntouch ${marker}\nexit 1\n`, { mode: 0o755 });
  return { env: { ...process.env, KVM_XEN_QEMU: path.join(dir, 'qemu') }, booted: () => fs.existsSync(marker) };
}

t.test('bisect --run: a usage error or a missing tool exits 128, which stops git bisect run', async (t) => {
  const qemu = recordingQemu(t);
  const cases: Array<{ args: string[]; says: RegExp; env?: NodeJS.ProcessEnv }> = [
    { args: ['--run', '--bogus'], says: /unknown option --bogus[\s\S]*usage: kvm-xen bisect/ },
    { args: ['--run', '--', 'nosuchtest'], says: /unknown selftest nosuchtest/ },
    { args: ['--run', '--patches', 'a.patch'], says: /give one of --patches, --good\/--bad or --run/ },
    // Found by the runner once the kernel is there, before the boot.
    { args: ['--run', '--kvm-param', 'kvm.no_such_param=1', '--', 'xen_shinfo_test'], says: /kvm has no parameter "no_such_param"/, env: qemu.env },
    { args: ['--run', '--', 'xen_shinfo_test'], says: /nonexistent/, env: { ...process.env, KVM_XEN_QEMU: '/nonexistent/qemu-system-x86_64' } },
  ];
  for (const { args, says, env } of cases) {
    const run = await runCli(['bisect', ...args], env ? { env } : {});
    t.equal(run.status, 128, `bisect ${args.join(' ')}: 128 (stdout: ${run.stdout.trim()}; stderr: ${run.stderr.trim().split('\n')[0]})`);
    t.match(run.stdout + run.stderr, says, 'says what is wrong');
  }
  t.notOk(qemu.booted(), 'nothing booted');
  const outside = await runCli(['bisect', '--patches', 'a.patch', '--bogus']);
  t.equal(outside.status, 64, 'without --run a usage error is 64, as everywhere');
  const testArg = await runCli(['bisect', '--patches', 'a.patch', '--', 'nosuchtest', '--run']);
  t.equal(testArg.status, 64, '--run after -- is a test argument, not the mode');
});

/** A repository of five commits (c1 good ... c5 bad) in the middle of a bisection. */
function bisecting(t: tap.Test): { repo: string; git: (...args: string[]) => { status: number | null; out: string }; commits: string[] } {
  const repo = tempDir(t, 'bisect-run-repo-');
  const env = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t', GIT_CONFIG_NOSYSTEM: '1', HOME: repo };
  const git = (...args: string[]): { status: number | null; out: string } => {
    const result = spawnSync('git', args, { cwd: repo, env, encoding: 'utf8' });
    return { status: result.status, out: `${result.stdout}${result.stderr}` };
  };
  git('init', '-q');
  const commits: string[] = [];
  for (let n = 1; n <= 5; n++) {
    fs.writeFileSync(path.join(repo, 'n'), `${n}\n`);
    git('add', 'n');
    git('commit', '-qm', `c${n}`);
    commits.push(git('rev-parse', 'HEAD').out.trim());
  }
  t.equal(git('bisect', 'start', commits[4]!, commits[0]!).status, 0, 'bisect started: c5 bad, c1 good');
  return { repo, git, commits };
}

t.test('a real git bisect run stops at bisect --run\'s usage error; a 64 would have marked a commit bad', async (t) => {
  const stopped = bisecting(t);
  const run = stopped.git('bisect', 'run', process.execPath, cliPath(), 'bisect', '--run', '--bogus');
  t.not(run.status, 0, 'git bisect run fails');
  t.match(run.out, /exit code 128 .*>= 128/, 'because of the 128');
  t.notMatch(run.out, /is the first bad commit/);
  t.equal(stopped.git('rev-parse', 'refs/bisect/bad').out.trim(), stopped.commits[4], 'no commit was marked bad');

  // What 64 would do: git takes it for "bad" and names a first bad commit the test never judged.
  const misled = bisecting(t);
  const wrong = misled.git('bisect', 'run', 'sh', '-c', 'exit 64');
  t.equal(wrong.status, 0, 'git bisect run completes');
  t.match(wrong.out, `${misled.commits[1]} is the first bad commit`, 'and blames c2');
});
