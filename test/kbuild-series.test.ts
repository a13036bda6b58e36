// A patch series' prefixes are built in the watch's kept tree (KvmBuildTree), for real: two patches of
// test/data/patch-series that both touch only xen.c, given a unique first line so that no cache entry
// has them yet (patch skips text before the diff, as in a mail). Moving from prefix 1 to prefix 2
// changes xen.c alone, and make compiles xen.o alone; each prefix lands in build-kvm's cache (asked
// again, it is not built); the kept tree is free again once the builder is closed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import { KVM_MODULES, PatchSeriesBuilder } from '../lib/kbuild';
import { projectRoot } from '../lib/paths';
import { modinfo, readModule } from '../lib/vm/modinfo';

t.test('prefixes built incrementally in a kept tree, into the cache', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-series-test-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const nonce = crypto.randomBytes(8).toString('hex');
  const patches = ['0001', '0003'].map((name) => {
    const file = path.join(dir, `${name}.patch`);
    fs.writeFileSync(file, `Subject: [test ${nonce}] ${name}\n\n${fs.readFileSync(path.join(projectRoot, 'test', 'data', 'patch-series', `${name}.patch`), 'utf8')}`);
    return file;
  });

  const builder = await PatchSeriesBuilder.open({ patches });
  let closed = false;
  t.teardown(() => { if (!closed) builder.close(); });
  const started = Date.now();
  const one = await builder.modules(1);
  t.equal(one.built, true, 'prefix 1 was built');
  t.teardown(() => fs.rmSync(one.dir, { recursive: true, force: true }));
  const first = builder.lastBuild!;
  t.comment(`prefix 1: ${((Date.now() - started) / 1000).toFixed(1)} s, changed ${first.changedSources.join(' ') || 'nothing'}, compiled ${first.compiled.join(' ') || 'nothing'}`);
  t.ok(first.changedSources.includes('arch/x86/kvm/xen.c'), 'xen.c differed from what the kept tree had before');

  const two = await builder.modules(2);
  t.equal(two.built, true, 'prefix 2 was built');
  t.teardown(() => fs.rmSync(two.dir, { recursive: true, force: true }));
  const second = builder.lastBuild!;
  t.comment(`prefix 2: ${(second.durationMs / 1000).toFixed(1)} s`);
  t.same(second.changedSources, ['arch/x86/kvm/xen.c'], 'from prefix 1 to 2 only xen.c changed');
  t.same(second.compiled, ['arch/x86/kvm/xen.o'], 'and only xen.o was compiled');
  t.not(two.dir, one.dir, 'each prefix has its own cache entry');
  for (const name of KVM_MODULES) t.ok(fs.existsSync(path.join(two.dir, `${name}.ko`)), `${name}.ko in it`);
  // Buffer.equals, not t.notSame: tap diffs what it compares, and two 2.9 MB modules of different
  // lengths took it over 30 minutes (the CI run that timed out here).
  t.notOk(readModule(path.join(two.dir, 'kvm.ko')).equals(readModule(path.join(one.dir, 'kvm.ko'))), 'prefix 2\'s kvm.ko differs from prefix 1\'s');
  t.ok(modinfo(readModule(path.join(two.dir, 'kvm-amd.ko')), 'kvm-amd.ko').get('vermagic'), 'kvm-amd.ko is a module');

  const again = await builder.modules(1);
  t.same([again.built, again.dir], [false, one.dir], 'prefix 1 again: from the cache');
  t.same([builder.builds, builder.reused], [2, 1]);

  const lock = `${path.dirname(second.dir)}.lock`;
  t.ok(fs.existsSync(lock), 'the kept tree is held while the builder is open');
  builder.close();
  closed = true;
  t.notOk(fs.existsSync(lock), 'and free once it is closed');
  await t.rejects(builder.modules(0), /closed/, 'a closed builder builds nothing');
});
