// Every patch under kernel/ is meant for the KVM maintainers, so it must pass the kernel's own
// `scripts/checkpatch.pl --strict` (from Debian's linux-source-6.12 of the kernel we test) with no
// error, warning or check, and apply to that same source. test/kernel-faults/*.patch is not checked:
// it is a test-only fault injector that never leaves this project (no commit message, no sign-off).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import { checkpatch, checkpatchTree } from '../lib/kbuild';
import { runProgram } from '../lib/process';
import { projectRoot } from '../lib/paths';
import { resolveKernel } from '../lib/vm';

const kernelDir = path.join(projectRoot, 'kernel');
const patches = fs.readdirSync(kernelDir).filter((name) => name.endsWith('.patch')).map((name) => path.join(kernelDir, name));

async function sourceVersion(): Promise<string> {
  const kernel = await resolveKernel('debian');
  return kernel.debianVersion!;
}

t.test('kernel/ has patches to check', async (t) => {
  t.ok(patches.length > 0, `${patches.length} patch(es) under kernel/`);
});

for (const patch of patches) {
  t.test(`checkpatch --strict: ${path.basename(patch)}`, async (t) => {
    const version = await sourceVersion();
    const result = await checkpatch(version, patch);
    t.same(result.totals, { errors: 0, warnings: 0, checks: 0 }, 'no errors, warnings or checks', { report: result.report });
    t.equal(result.status, 0, 'checkpatch exits 0');

    const tree = await checkpatchTree(version);
    const applied = await runProgram('patch', ['-p1', '--dry-run', '--batch', '--forward', '-d', tree, '-i', patch]);
    t.equal(applied.status, 0, `applies to linux-source-6.12 ${version}`, { output: applied.stdout + applied.stderr });
  });
}

// The check above is only worth something if checkpatch really runs and its findings are counted.
t.test('a declaration without the blank line after it is reported', async (t) => {
  const version = await sourceVersion();
  const good = fs.readFileSync(patches[0]!, 'utf8');
  const bad = good.replace(/^(\+\t+struct [a-z_]+ \*\w+ = [^;\n]+;\n)\+\n/m, '$1');
  t.not(bad, good, 'the patch has a declaration followed by a blank line to remove');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-checkpatch-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'bad.patch');
  fs.writeFileSync(file, bad);
  const result = await checkpatch(version, file);
  t.equal(result.totals.warnings, 1, 'one warning');
  t.match(result.report, /WARNING: Missing a blank line after declarations/);
  t.equal(result.status, 1, 'checkpatch exits 1');
});
