// kvm-xen compare as a matrix, for real: Debian's kernel with its own KVM modules, with our fix
// (kernel/0001) and with the first three patches of test/data/patch-series, the third of which breaks
// stage 5 of xen_shinfo_test (RUNSTATE_DATA stores one nanosecond too many blocked; the stages after
// it are then not run). Three boots, one table: stage 5 first, marked as failing in C, the stages
// before it alike, exit 1; the KCIDB file has the three builds.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import type { KcidbReport } from '../lib/kcidb';
import { buildKvmModules, PatchSeriesBuilder } from '../lib/kbuild';
import { columnsWithFailures } from '../lib/matrix';
import { projectRoot } from '../lib/paths';
import { runSuiteCli } from './helpers/suite-run';

const STAGE = 'xen_shinfo_test: stage 5 TEST_RUNSTATE_DATA';
const series = ['0001', '0002', '0003'].map((n) => path.join(projectRoot, 'test', 'data', 'patch-series', `${n}.patch`));

t.test('compare over three module sets: the stage one breaks comes first, exit 1', async (t) => {
  const fixPatch = path.join(projectRoot, 'kernel', fs.readdirSync(path.join(projectRoot, 'kernel')).find((f) => f.endsWith('.patch'))!);
  const fix = await buildKvmModules({ patches: [fixPatch] });
  using builder = await PatchSeriesBuilder.open({ patches: series });
  const broken = await builder.modules(3);  // from the cache when bisect-vm.test.ts ran first
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-matrix-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const json = path.join(tmp, 'matrix.json');

  // A and B are sound: a regression, and no failure of theirs under the table.
  const run = await runSuiteCli(t, ['compare', '--kernel', 'debian', '--kvm-modules', 'stock', '--kvm-modules', fix.dir, '--kvm-modules', broken.dir,
    '--timeout', '900', '--json', json, '--', 'xen_shinfo_test'], (run) => run.status === 1 && columnsWithFailures(run.stdout).every((column) => column === 'C'));
  t.comment(`three columns in ${(run.ms / 1000).toFixed(1)} s`);
  t.comment(run.stdout.trim());
  t.equal(run.status, 1, `a column fails what A passes (stderr: ${run.stderr.slice(-2000)})`);
  const lines = run.stdout.split('\n');
  t.match(lines[0], /^test \/ stage\s+A\s+B\s+C$/, 'one column per configuration');
  t.equal(lines[1], '-- differences --');
  t.match(lines[2], new RegExp(`^${STAGE}\\s+pass\\s+pass\\s+fail\\s+<< fails in C$`), 'the broken stage is the first row');
  const same = lines.indexOf('-- same --');
  t.ok(same > 2, 'then the rows alike');
  t.match(lines.slice(same).join('\n'), /xen_shinfo_test: stage 0 TEST_INJECT_VECTOR\s+pass\s+pass\s+pass/);
  for (let stage = 0; stage < 5; stage++) t.match(lines.slice(same).join('\n'), new RegExp(`xen_shinfo_test: stage ${stage} TEST_\\w+\\s+pass\\s+pass\\s+pass\\n`), `stage ${stage} alike`);
  t.match(run.stdout, `\nC: Debian`);
  t.match(run.stdout, broken.dir, 'the legend names the module directory');
  t.match(run.stdout, /\n\d+ regression\(s\): a column fails what A passes\n$/);

  const report = JSON.parse(fs.readFileSync(json, 'utf8')) as KcidbReport;
  t.equal(report.checkouts.length, 1, 'one kernel');
  t.equal(report.builds.length, 3, 'three builds: own modules, the fix, the broken patch');
  const brokenBuild = report.builds.find((build) => build.misc?.['kvm_modules'] === broken.dir);
  const brokenRunstate = report.tests.find((test) => test.build_id === brokenBuild?.id && /stage_5_TEST_RUNSTATE_DATA$/.test(test.path ?? ''));
  t.equal(brokenRunstate?.status, 'FAIL', 'the KCIDB file has the broken stage as FAIL on that build');
});
