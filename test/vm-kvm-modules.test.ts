// --kvm-modules DIR takes kvm.ko, kvm-amd.ko, kvm-intel.ko from DIR itself (or DIR/arch/x86/kvm), never
// from somewhere deeper: a DIR holding stock/ and patched/ is refused with both named (it used to load
// whichever the directory walk met first), and a run says which files it loaded with their SHA-256.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import t from 'tap';

import { resolveKernel, vmExitStatus } from '../lib/vm';
import { kvmModuleFiles } from '../lib/vm/kernel';
import { runCli } from './helpers/vm';

const sha256 = (file: string): string => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

t.test('--kvm-modules with stock/ and patched/ under one directory', async (t) => {
  const kernel = await resolveKernel('debian');
  const parent = fs.mkdtempSync('/tmp/kvm-xen-modules-');
  t.teardown(() => fs.rmSync(parent, { recursive: true, force: true }));
  const stock = path.join(parent, 'stock');
  const patched = path.join(parent, 'patched');
  fs.mkdirSync(stock);
  fs.mkdirSync(patched);
  for (const name of ['kvm', 'kvm_amd', 'kvm_intel']) {
    const own = kernel.modules.get(name)!;
    fs.copyFileSync(own, path.join(stock, path.basename(own)));
    // Another build of the same module for the patched side: the same code, other bytes.
    const unpacked = spawnSync('xz', ['-dc', own], { maxBuffer: 1 << 28 });
    fs.writeFileSync(path.join(patched, path.basename(own, '.xz')), unpacked.stdout);
  }

  const parentRun = await runCli(['vm', '--kvm-modules', parent, '--', 'true']);
  t.equal(parentRun.status, vmExitStatus.badKernel, 'the parent has no kvm.ko of its own: refused before any boot');
  t.match(parentRun.stderr, `${parent} has no kvm.ko`);
  t.match(parentRun.stderr, stock, 'names stock/');
  t.match(parentRun.stderr, patched, 'names patched/');

  const both = path.join(parent, 'both');
  fs.cpSync(patched, both, { recursive: true });
  fs.copyFileSync(path.join(stock, 'kvm.ko.xz'), path.join(both, 'kvm.ko.xz'));
  const bothRun = await runCli(['vm', '--kvm-modules', both, '--', 'true']);
  t.equal(bothRun.status, vmExitStatus.usage, 'kvm.ko and kvm.ko.xz side by side: refused');
  t.match(bothRun.stderr, `both ${path.join(both, 'kvm.ko')} and ${path.join(both, 'kvm.ko.xz')}`);

  // A built kernel tree's layout, and not both layouts at once.
  const tree = path.join(parent, 'tree');
  fs.cpSync(patched, path.join(tree, 'arch', 'x86', 'kvm'), { recursive: true });
  t.same(kvmModuleFiles(tree).map((module) => module.file).sort(), ['kvm-amd.ko', 'kvm-intel.ko', 'kvm.ko'].map((file) => path.join(tree, 'arch', 'x86', 'kvm', file)));
  fs.copyFileSync(path.join(patched, 'kvm.ko'), path.join(tree, 'kvm.ko'));
  t.throws(() => kvmModuleFiles(tree), { failure: 'usage', message: /ambiguous/ });

  const run = await runCli(['vm', '--timeout', '300', '--kvm-modules', patched, '--', 'sh', '-c', 'test -c /dev/kvm && echo kvm-there']);
  t.equal(run.status, 0, run.stderr);
  t.equal(run.stdout, 'kvm-there\n');
  for (const file of ['kvm.ko', 'kvm-amd.ko', 'kvm-intel.ko']) {
    const full = path.join(patched, file);
    t.match(run.stderr, `kvm-xen: loading ${full} (sha256 ${sha256(full).slice(0, 12)})`, `says it loads ${file} with its hash`);
  }
});
