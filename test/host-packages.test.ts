// A fresh machine: a missing host tool gives exit status 69 and the exact apt-get line before anything
// is fetched or built (build-kvm's toolchain, the runner's QEMU and xz), and stale package lists are
// refreshed once, as root, when the kernel look-up finds nothing (issue 11 item 1). The tools are
// hidden with a PATH that lacks them; KVM_XEN_NO_INSTALL=1 keeps the tests (run as root) from
// installing anything.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import { cacheRoot } from '../lib/cache';
import { emptyPackageLists, pathWithout } from './helpers/host';
import { runCli } from './helpers/vm';

function scratch(t: tap.Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-host-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const hiddenTools: Array<{ verb: string[]; hide: string[]; line: RegExp }> = [
  { verb: ['build-kvm'], hide: ['pahole'], line: /needs pahole, which is missing .*install with: apt-get install pahole$/m },
  { verb: ['build-kvm'], hide: ['x86_64-linux-gnu-gcc-12'], line: /needs x86_64-linux-gnu-gcc-12, .*install with: apt-get install gcc-12$/m },
  { verb: ['build-kvm'], hide: ['make', 'patch'], line: /needs make, patch, which are missing .*install with: apt-get install make patch$/m },
  { verb: ['vm', '--', 'true'], hide: ['qemu-system-x86_64'], line: /needs qemu-system-x86_64, .*install with: apt-get install qemu-system-x86$/m },
  { verb: ['vm', '--', 'true'], hide: ['xz'], line: /needs xz, .*install with: apt-get install xz-utils$/m },
];

for (const { verb, hide, line } of hiddenTools) {
  t.test(`kvm-xen ${verb[0]} without ${hide.join(', ')}: 69 and the apt-get line, nothing fetched`, async (t) => {
    const dir = scratch(t);
    const cache = path.join(dir, 'cache');
    const run = await runCli(verb, { env: { ...process.env, PATH: pathWithout(hide, dir), KVM_XEN_NO_INSTALL: '1', KVM_XEN_CACHE: cache } });
    t.equal(run.status, 69, `exit status 69 (${run.stderr.trim()})`);
    t.match(run.stderr, line, 'names what is missing and the exact apt-get line');
    t.match(run.stderr, /KVM_XEN_NO_INSTALL is set/, 'says why it did not install');
    t.notOk(fs.existsSync(path.join(cache, 'debs')), 'nothing was fetched');
    t.ok(run.ms < 30000, `found at once (${run.ms} ms), not after a build`);
  });
}

t.test('stale package lists and no cached kernel, installing forbidden: 66 naming apt-get update', async (t) => {
  const dir = scratch(t);
  const env = { ...process.env, APT_CONFIG: emptyPackageLists(dir), KVM_XEN_NO_INSTALL: '1', KVM_XEN_CACHE: path.join(dir, 'cache') };
  const run = await runCli(['vm', '--', 'true'], { env });
  t.equal(run.status, 66, 'exit status 66 (no input)');
  t.match(run.stderr, /offers no linux-image-6\.12\.\*-amd64-unsigned and none is cached \(run: apt-get update\)/);
  t.notMatch(run.stderr, /refreshing/, 'did not touch the lists');
});

// The .deb files of the shared cache, so that nothing big is downloaded twice; nothing is unpacked
// yet in the test's own cache, so the kernel must come from the package lists.
const sharedDebs = path.join(cacheRoot(), 'debs');
const cachedDeb = (): string | undefined => (fs.existsSync(sharedDebs) ? fs.readdirSync(sharedDebs).find((name) => /^linux-image-6\.12\..*-amd64-unsigned_.*\.deb$/.test(name)) : undefined);

t.test('stale package lists as root: refreshed once, said in one line, and the kernel is found', { skip: process.getuid?.() !== 0 && 'needs root (apt-get update)' }, async (t) => {
  // On a fresh machine this may run before any other test has fetched the kernel: fetch it into the
  // shared cache as every VM test would (its lists are fresh: .ci/run has just updated them).
  if (!cachedDeb()) {
    const fetched = await runCli(['setup']);
    t.equal(fetched.status, 0, `the shared cache had no kernel .deb: kvm-xen setup fetched one (${fetched.stderr.trim().split('\n').pop()})`);
  }
  const deb = cachedDeb();
  if (!deb) {
    t.fail(`no Debian kernel .deb in ${sharedDebs}`);
    return;
  }
  const dir = scratch(t);
  const cache = path.join(dir, 'cache');
  fs.mkdirSync(cache);
  fs.symlinkSync(sharedDebs, path.join(cache, 'debs'));
  const version = decodeURIComponent(deb.split('_')[1]!);
  const env = { ...process.env, APT_CONFIG: emptyPackageLists(dir), KVM_XEN_CACHE: cache };
  const run = await runCli(['setup', '--kernel', `debian:${version}`], { env });
  t.equal(run.status, 0, `setup succeeded (${run.stderr.trim().split('\n').pop()})`);
  const said = run.stderr.split('\n').filter((line) => /refreshing them with apt-get update/.test(line));
  t.equal(said.length, 1, 'one line says the lists are refreshed');
  t.match(said[0] ?? '', /package lists offer no Debian kernel .* and none is cached/, 'and why');
  t.match(run.stdout, new RegExp(`kernel Debian .*\\(${version.replace(/[.+~]/g, '\\$&')}\\) is cached`));
});
