// build-kvm for real: KVM modules for Debian's 6.12 kernel, built out of tree with our patch, must be
// modules of that very kernel (same vermagic as Debian's own kvm.ko) — and come from the cache the
// second time.
import fs from 'node:fs';
import path from 'node:path';

import t from 'tap';

import { buildKvmModules, KVM_MODULES } from '../lib/kbuild';
import { projectRoot } from '../lib/paths';
import { resolveKernel } from '../lib/vm';
import { modinfo, readModule } from '../lib/vm/modinfo';

const patch = path.join(projectRoot, 'kernel', fs.readdirSync(path.join(projectRoot, 'kernel')).find((f) => f.endsWith('.patch'))!);

t.test('build-kvm with our patch makes loadable modules for the Debian kernel', async (t) => {
  const first = await buildKvmModules({ patches: [patch] });
  for (const name of KVM_MODULES) t.ok(fs.existsSync(path.join(first.dir, `${name}.ko`)), `${name}.ko built`);

  const kernel = await resolveKernel('debian');
  const debianKvm = kernel.modules.get('kvm')!;
  const theirs = modinfo(readModule(debianKvm), debianKvm).get('vermagic');
  const ours = modinfo(readModule(path.join(first.dir, 'kvm.ko')), 'kvm.ko').get('vermagic');
  t.ok(theirs, `Debian's kvm.ko has a vermagic (${theirs})`);
  t.equal(ours, theirs, 'same vermagic as Debian\'s own kvm.ko');
  const amd = modinfo(readModule(path.join(first.dir, 'kvm-amd.ko')), 'kvm-amd.ko');
  t.match(amd.get('depends') ?? '', /\bkvm\b/, 'kvm-amd depends on kvm');

  const started = Date.now();
  const second = await buildKvmModules({ patches: [patch] });
  t.equal(second.dir, first.dir, 'same inputs, same directory');
  t.equal(second.built, false, 'reused from the cache');
  t.ok(Date.now() - started < 5000, 'instant the second time');
});

t.test('a patch that does not apply is refused with its name', async (t) => {
  const dir = fs.mkdtempSync('/tmp/kvm-xen-patch-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const bad = path.join(dir, 'bad.patch');
  fs.writeFileSync(bad, '--- a/arch/x86/kvm/xen.c\n+++ b/arch/x86/kvm/xen.c\n@@ -1,1 +1,1 @@\n-this line is not in xen.c\n+nor this one\n');
  await t.rejects(buildKvmModules({ patches: [bad] }), /bad\.patch does not apply/);
});
