// The guest covers /tmp with its own scratch tmpfs. What a run needs from the host's /tmp stays
// visible: the command's directory and the cache's (KVM_XEN_CACHE under /tmp), whose kernel
// xen_guest_migration_test boots again from the path KVM_XEN_GUEST_KERNEL names and where a session
// (test --vm --watch, hot-swap) keeps the directory its guest agent reads commands from.
import fs from 'node:fs';
import path from 'node:path';

import t from 'tap';

import { cacheDir, cacheRoot } from '../lib/cache';
import { GuestSession } from '../lib/vm';
import { useCache } from './helpers/host';
import { runCli } from './helpers/vm';

const sharedCache = cacheRoot();

/**
 * A cache of its own under /tmp whose entries lead to the shared one (nothing is fetched again), but
 * for the sessions' directories, which are its own: a path through it resolves in the guest only if
 * its /tmp directory is kept.
 */
function cacheUnderTmp(t: tap.Test): string {
  const cache = fs.mkdtempSync('/tmp/kvm-xen-cache-');
  t.teardown(() => fs.rmSync(cache, { recursive: true, force: true }));
  fs.mkdirSync(sharedCache, { recursive: true });
  for (const entry of fs.readdirSync(sharedCache)) {
    if (entry !== 'sessions') fs.symlinkSync(path.join(sharedCache, entry), path.join(cache, entry));
  }
  return cache;
}

t.test('a command directory and a cache under /tmp are both visible in the guest', async (t) => {
  const project = fs.mkdtempSync('/tmp/kvm-xen-project-');
  t.teardown(() => fs.rmSync(project, { recursive: true, force: true }));
  const cache = cacheUnderTmp(t);
  fs.writeFileSync(path.join(project, 'marker'), 'the project\n');

  const scratchFile = `${project}.scratch`;
  const script = `pwd; cat marker; test -r "$KVM_XEN_GUEST_KERNEL" && echo "kernel $KVM_XEN_GUEST_KERNEL"; touch ${scratchFile} && echo scratch writable`;
  // --no-snapshot: a state saved under this cache's kernel path would never be restored again.
  const run = await runCli(['vm', '--no-snapshot', '--', 'sh', '-c', script], { cwd: project, env: { ...process.env, KVM_XEN_CACHE: cache } });
  t.equal(run.status, 0, `the run succeeded (${run.stderr.trim().split('\n').pop()})`);
  const lines = run.stdout.trim().split('\n');
  t.equal(lines[0], project, 'the command ran in its directory under /tmp');
  t.equal(lines[1], 'the project', 'and read its file there');
  t.match(lines[2] ?? '', new RegExp(`^kernel ${cache}/`), "the booted kernel's path, in the cache under /tmp, is readable in the guest");
  t.equal(lines[3], 'scratch writable', '/tmp itself is still the scratch tmpfs');
  t.notOk(fs.existsSync(scratchFile), 'which the host does not see');
});

t.test('a session (test --vm --watch, kvm-xen guest) with its directory in a cache under /tmp', async (t) => {
  useCache(t, cacheUnderTmp(t));
  const session = await GuestSession.start({ snapshot: false, timeoutMs: 10 * 60 * 1000 });
  t.teardown(() => session.kill());
  const first = await session.run(['echo', 'first']);
  const second = await session.run(['sh', '-c', 'echo second; exit 3']);
  t.same([first.status, first.output], [0, 'first\n'], 'the agent in the guest found the session directory and ran a command');
  t.same([second.status, second.output], [3, 'second\n'], 'and the next one');
  t.equal((await session.close()).status, 0, 'and the session ended cleanly');
  t.same(fs.readdirSync(cacheDir('sessions')), [], 'its directory is gone');
});
