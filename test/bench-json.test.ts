// `npm run bench -- --json FILE` writes every figure of the table in a shape a script can check: a
// quick run of the benchmarks that need no VM (the VM ones build their figures the same way).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import type { BenchReport } from '../bench/all';
import { projectRoot } from '../lib/paths';
import { kvmOrSkip } from './helpers/kvm';

const ALL = path.join(projectRoot, 'dist', 'bench', 'all.js');

t.test('--quick --json FILE: one entry per table row, each with name, value, unit, ratio, goal', async (t) => {
  if (!kvmOrSkip(t)) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-bench-json-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'bench.json');
  const run = spawnSync(process.execPath, [ALL, '--quick', '--only', 'exits,exit-cost', '--json', file], { encoding: 'utf8' });
  t.equal(run.status, 0, `bench exits 0 (${run.stderr.trim().split('\n').pop()})`);
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchReport;
  t.equal(report.quick, true);
  t.ok(!Number.isNaN(Date.parse(report.date)), 'an ISO date');
  t.match(report.machine, /\d+ x .+, \d+ GiB, Linux /);
  const tableRows = run.stdout.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| benchmark'));
  t.equal(report.figures.length, tableRows.length, 'every row of the table is in the JSON');
  t.ok(report.figures.length >= 12, `${report.figures.length} figures`);
  for (const [i, f] of report.figures.entries()) {
    t.ok(tableRows[i]!.startsWith(`| ${f.name} `), `row ${i}: ${f.name}`);
    t.ok(typeof f.value === 'number' && Number.isFinite(f.value), `${f.name}: value ${f.value}`);
    t.ok(['exits/s', 'µs/exit', 'µs/run', 's'].includes(f.unit), `${f.name}: unit ${f.unit}`);
    t.ok(f.ratio === null || Number.isFinite(f.ratio), `${f.name}: ratio ${f.ratio}`);
    if (f.goal === null || f.goal === 'baseline') {
      t.equal(f.met, null, `${f.name}: no goal, no verdict`);
    } else {
      t.ok(['value', 'ratio'].includes(f.goal.on) && ['>=', '<='].includes(f.goal.compare) && Number.isFinite(f.goal.target), `${f.name}: goal ${JSON.stringify(f.goal)}`);
      t.type(f.met, 'boolean', `${f.name}: goal met or not`);
    }
  }
  t.same(report.figures.filter((f) => f.goal === 'baseline').map((f) => f.ratio), [1, 1], 'each benchmark\'s baseline is 1.00x');
  const goals = report.figures.filter((f) => f.goal !== null && f.goal !== 'baseline').map((f) => f.name);
  t.same(goals, ['PIO exits, library runSync()', 'PIO exits, library runAsync()', 'KVM_RUN stubbed, runSync() own cost', 'KVM_RUN stubbed, runAsync() own cost']);
});

t.test('an unknown benchmark or option is a usage error (64)', async (t) => {
  for (const args of [['--only', 'nope'], ['--bogus']]) {
    const run = spawnSync(process.execPath, [ALL, ...args], { encoding: 'utf8' });
    t.equal(run.status, 64, args.join(' '));
    t.match(run.stderr, /usage: npm run bench/);
  }
});
