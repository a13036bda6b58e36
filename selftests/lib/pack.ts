// Start-up packs for selftest programs. Inside the QEMU guest the host's root is mounted over 9p with no
// cache, so each file operation is a round trip to QEMU, and under TCG on a busy host that costs
// milliseconds: loading xen_shinfo_test's 44 modules took some 400 of them (231 stats, 53 opens and their
// reads, mostly Node's module resolution probing paths and package.json files), seconds before the test
// began. A pack holds a program's compiled modules and how each import resolved, in one JSON file next
// to the program: one read instead of the probing, and one stat per module to prove it is fresh.
//
// Built after the TypeScript compile (`npm run build`, `prepare`, `pretest`: `node
// dist/selftests/lib/pack.js`). A pack whose modules changed since (`npx tsc -p .` alone) is ignored
// and the program loads the ordinary way, so a stale pack can cost time but never run old code.
//
// Loading from a pack goes through Node's CommonJS loader hooks (Module._resolveFilename and
// Module._extensions['.js'], as require hooks such as source-map or coverage tools use them). Each
// module is compiled under its own file name in Node's CommonJS wrapper, so stack traces, __dirname,
// require.cache and instanceof across modules are what they would be without the pack.
//
// The pack also holds each module's V8 code cache, made by the pack script after loading the program:
// V8 then skips parsing and compiling what the load compiled (under TCG that was about a third of the
// load's CPU time). V8 compiles afresh when a cache was made by another V8 or with other flags
// (another Node binary, --cpu-prof), but of the source it checks only the length: a cache is used only
// with the source whose SHA-256 it was made from, so it can be useless, never wrong.
import crypto from 'node:crypto';
import fs from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

const PACK_VERSION = 2;

interface PackedModule {
  /** Path relative to the pack's directory. */
  file: string;
  size: number;
  mtimeMs: number;
  source: string;
  /** V8's code cache for the wrapped source, base64, and the SHA-256 of the source it was made from. */
  codeCache?: { data: string; sourceSha256: string };
}

export interface Pack {
  version: number;
  /** The program's module, relative to the pack's directory. */
  entry: string;
  modules: PackedModule[];
  /** "<importing module's directory>\0<request>" -> module file, both relative to the pack's directory. */
  resolutions: Record<string, string>;
}

/** The CommonJS loader's hooks this file uses (not in @types/node's public Module type). */
interface LoaderInternals {
  _resolveFilename(request: string, parent: Module | undefined, isMain: boolean, options?: unknown): string;
  _extensions: Record<string, (module: Module, filename: string) => void>;
  _cache: NodeJS.Require['cache'];
}
const loader = Module as unknown as LoaderInternals;

const sha256 = (text: string): string => crypto.createHash('sha256').update(text).digest('hex');

/** A module's source in Node's CommonJS wrapper, compiled (from `cachedData` when V8 accepts it). */
function compileModule(source: string, filename: string, cachedData?: Buffer): vm.Script {
  return new vm.Script(Module.wrap(source), { filename, ...(cachedData ? { cachedData } : {}) });
}

/** Runs a compiled module as Node's loader would: its exports, a require bound to it, its paths. */
function runModule(script: vm.Script, module: Module, filename: string): void {
  const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => void;
  const require = ((id: string) => module.require(id)) as NodeJS.Require;
  require.resolve = ((request: string, options?: { paths?: string[] }) => loader._resolveFilename(request, module, false, options)) as NodeJS.RequireResolve;
  require.main = process.mainModule;
  require.cache = loader._cache;
  require.extensions = loader._extensions as NodeJS.Require['extensions'];
  wrapper.call(module.exports, module.exports, require, module, filename, path.dirname(filename));
}

/** Where the pack of a program module lives: next to it, `<name>.pack.json`. */
export function packPathFor(entry: string): string {
  return entry.replace(/\.js$/, '') + '.pack.json';
}

/**
 * Records which modules `require(entry)` loads and how each import resolved. Run it in a process that
 * has loaded nothing of the program yet (the pack script's own process), or the modules already loaded
 * are left out.
 */
export function buildPack(entry: string): Pack {
  const base = path.dirname(entry);
  const rel = (file: string): string => path.relative(base, file);
  const resolutions: Record<string, string> = {};
  const scripts = new Map<string, vm.Script>();
  const original = loader._resolveFilename;
  const compileJs = loader._extensions['.js']!;
  const before = new Set(Object.keys(require.cache));
  loader._resolveFilename = function (request, parent, isMain, options) {
    const resolved = original.call(this, request, parent, isMain, options);
    if (parent?.filename && path.isAbsolute(resolved) && resolved.endsWith('.js')) {
      resolutions[`${rel(path.dirname(parent.filename))}\0${request}`] = rel(resolved);
    }
    return resolved;
  };
  // Loaded the way a pack loads them, so that each module's script has compiled what the load needs.
  loader._extensions['.js'] = function (module, filename) {
    const script = compileModule(fs.readFileSync(filename, 'utf8'), filename);
    scripts.set(filename, script);
    runModule(script, module, filename);
  };
  try {
    require(entry);
  } finally {
    loader._resolveFilename = original;
    loader._extensions['.js'] = compileJs;
  }
  const modules = Object.keys(require.cache).filter((file) => !before.has(file) && file.endsWith('.js')).map((file) => {
    const stat = fs.statSync(file);
    const source = fs.readFileSync(file, 'utf8');
    const data = scripts.get(file)?.createCachedData().toString('base64');
    return { file: rel(file), size: stat.size, mtimeMs: stat.mtimeMs, source, ...(data ? { codeCache: { data, sourceSha256: sha256(source) } } : {}) };
  });
  const packed = new Set(modules.map((module) => module.file));
  for (const [key, file] of Object.entries(resolutions)) if (!packed.has(file)) delete resolutions[key];
  return { version: PACK_VERSION, entry: rel(entry), modules, resolutions };
}

/**
 * The pack, if there is one for `entry` and every module in it is unchanged on disk; else undefined.
 * The stats go out together (each is a round trip to QEMU in the guest: one after the other they took
 * about a second there).
 */
export async function readFreshPack(entry: string): Promise<Pack | undefined> {
  let pack: Pack;
  try {
    pack = JSON.parse(fs.readFileSync(packPathFor(entry), 'utf8')) as Pack;
  } catch {
    return undefined;  // no pack (not built, or removed): load the ordinary way
  }
  if (pack.version !== PACK_VERSION || pack.entry !== path.basename(entry)) return undefined;
  const base = path.dirname(entry);
  const stats = await Promise.all(pack.modules.map((module) => fs.promises.stat(path.join(base, module.file)).catch(() => undefined)));
  const fresh = pack.modules.every((module, i) => stats[i] !== undefined && stats[i].size === module.size && stats[i].mtimeMs === module.mtimeMs);
  return fresh ? pack : undefined;
}

/**
 * Serves the pack's modules to the CommonJS loader: their resolutions from the pack's table, their
 * sources from the pack. Anything else (Node's own modules, the addon, a module the pack lacks) loads
 * as ever.
 */
function installPack(pack: Pack, base: string): void {
  const modules = new Map(pack.modules.map((module) => [path.join(base, module.file), module]));
  const resolutions = new Map(Object.entries(pack.resolutions).map(([key, file]) => {
    const [dir, request] = key.split('\0') as [string, string];
    return [`${path.join(base, dir)}\0${request}`, path.join(base, file)];
  }));
  const resolve = loader._resolveFilename;
  loader._resolveFilename = function (request, parent, isMain, options) {
    if (modules.has(request)) return request;
    const packed = parent?.filename ? resolutions.get(`${path.dirname(parent.filename)}\0${request}`) : undefined;
    return packed ?? resolve.call(this, request, parent, isMain, options);
  };
  const compileJs = loader._extensions['.js']!;
  loader._extensions['.js'] = function (module, filename) {
    const packed = modules.get(filename);
    if (packed === undefined) return compileJs.call(this, module, filename);
    const cache = packed.codeCache;
    const cachedData = cache && cache.sourceSha256 === sha256(packed.source) ? Buffer.from(cache.data, 'base64') : undefined;
    runModule(compileModule(packed.source, filename, cachedData), module, filename);
  };
}

/** Loads a program module (absolute path of its .js), from its pack when that is fresh. */
export async function requirePacked<T>(entry: string): Promise<T> {
  const pack = await readFreshPack(entry);
  if (pack) installPack(pack, path.dirname(entry));
  return require(entry) as T;
}

/** The program modules that get a pack, relative to dist/selftests. */
export const PACKED_PROGRAMS = ['xen_shinfo/main.js'];

if (require.main === module) {
  // One program per process: buildPack sees only the modules its program loads first.
  const [program] = process.argv.slice(2);
  if (program === undefined) {
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    for (const name of PACKED_PROGRAMS) execFileSync(process.execPath, [__filename, path.join(__dirname, '..', name)], { stdio: 'inherit' });
  } else {
    try {
      fs.writeFileSync(packPathFor(program), JSON.stringify(buildPack(program)));
    } catch (error) {
      // No pack is no failure: the program then loads the ordinary way, only slower in the guest.
      fs.rmSync(packPathFor(program), { force: true });
      process.stderr.write(`no start-up pack for ${program}: ${(error as Error).message.split('\n')[0]}\n`);
    }
  }
}
