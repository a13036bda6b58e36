// Start-up packs (selftests/lib/pack.ts): a fresh pack serves the modules and their resolutions, a stale
// or missing one is ignored, and the programs' packs are built by the build scripts.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import Module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import t from 'tap';

import { moduleCache, packPathFor, PACKED_PROGRAMS, readPackFile, writePackFile } from '../selftests/lib/pack';

const packScript = path.join(__dirname, '..', 'selftests', 'lib', 'pack.js');

/** A program of three modules: main -> ./b and ./sub (a directory with index.js) -> node:path. */
function program(t: tap.Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-pack-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.writeFileSync(path.join(dir, 'main.js'), "const { b } = require('./b');\nconst { sub } = require('./sub');\nexports.value = () => b + sub;\n");
  fs.writeFileSync(path.join(dir, 'b.js'), "exports.b = 'disk-b ';\n");
  fs.writeFileSync(path.join(dir, 'sub', 'index.js'), "exports.sub = require('node:path').basename(__dirname);\n");
  return path.join(dir, 'main.js');
}

/** Loads the program in a fresh process through requirePacked: its value() and what went to stderr. */
function loadPacked(entry: string): { value: string; said: string } {
  const script = `void (require(${JSON.stringify(path.join(__dirname, '..', 'selftests', 'lib', 'pack.js'))}).requirePacked(${JSON.stringify(entry)}).then((m) => process.stdout.write(m.value())))`;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`loading ${entry} failed: ${run.stderr}`);
  return { value: run.stdout, said: run.stderr };
}

t.test('a fresh pack serves the sources; a changed module makes it stale', async (t) => {
  const entry = program(t);
  execFileSync(process.execPath, [packScript, entry]);
  const { pack, caches } = readPackFile(packPathFor(entry));
  t.same(pack.modules.map((m) => m.file).sort(), ['b.js', 'main.js', path.join('sub', 'index.js')]);
  const indexOf = (file: string): number => pack.modules.findIndex((m) => m.file === file);
  t.equal(pack.resolutions[`${indexOf('main.js')}\0./sub`], indexOf(path.join('sub', 'index.js')), 'a directory import resolved once, at build time');
  t.same(loadPacked(entry), { value: 'disk-b sub', said: '' }, 'a fresh pack says nothing');

  // The pack's copy is what runs while the files on disk are unchanged (size and mtime)... (its code
  // cache goes with it: V8 checks a cache against the source's length only, and this one's is the same)
  const b = pack.modules.find((m) => m.file === 'b.js')!;
  b.source = "exports.b = 'pack-b ';\n";
  b.cacheLength = 0;
  writePackFile(packPathFor(entry), { pack, caches });
  t.equal(loadPacked(entry).value, 'pack-b sub', 'loaded from the pack');

  // ...and the files on disk once one of them changed.
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(path.join(path.dirname(entry), 'b.js'), later, later);
  const stale = loadPacked(entry);
  t.equal(stale.value, 'disk-b sub', 'a stale pack is ignored');
  t.match(stale.said, /main\.js: its start-up pack is stale .*rebuild it with node dist\/selftests\/lib\/pack\.js/, 'and said to be, with the command that rebuilds it');
});

t.test("the pack's code caches are taken by this Node's V8", async (t) => {
  const entry = program(t);
  execFileSync(process.execPath, [packScript, entry]);
  const { pack, caches } = readPackFile(packPathFor(entry));
  for (const module of pack.modules) {
    const cachedData = moduleCache(caches, module);
    const script = new vm.Script(Module.wrap(module.source), { filename: path.join(path.dirname(entry), module.file), cachedData });
    t.notOk(script.cachedDataRejected, `${module.file}: ${cachedData.length} bytes of cache, taken`);
  }
});

t.test('no pack, or one that cannot be built: the program loads the ordinary way', async (t) => {
  const entry = program(t);
  t.same(loadPacked(entry), { value: 'disk-b sub', said: '' }, 'no pack: nothing said');
  fs.writeFileSync(path.join(path.dirname(entry), 'b.js'), 'throw new Error("cannot load");\n');
  const out = execFileSync(process.execPath, [packScript, entry], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  t.equal(out, '');
  t.notOk(fs.existsSync(packPathFor(entry)), 'no pack written');
});

t.test('the build packs the selftest programs, fresh', async (t) => {
  for (const name of PACKED_PROGRAMS) {
    const entry = path.join(__dirname, '..', 'selftests', name);
    const { pack } = readPackFile(packPathFor(entry));
    t.equal(pack.entry, path.basename(entry), name);
    t.ok(pack.modules.length > 10, `${name}: ${pack.modules.length} modules`);
  }
});
