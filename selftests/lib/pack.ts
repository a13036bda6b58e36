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
// A pack also holds each module's V8 code cache, taken after the pack script loaded the program, so
// the guest's Node deserialises the modules' bytecode instead of compiling them (TCG makes V8's
// compiler slow there). V8 checks a cache against the source and its own version and flags, and
// compiles as usual when it does not fit (another Node binary, say). The file is one line of JSON, a
// newline, then the caches as raw bytes: one read, and no base64 to inflate, decode and collect.
//
// Loading from a pack goes through Node's CommonJS loader hooks (Module._resolveFilename and
// Module._extensions['.js'], as require hooks such as source-map or coverage tools use them). Each
// module is compiled under its own file name with Module.wrap's CommonJS wrapper, and run with its own
// module object and a require of its own, so stack traces, __dirname, require.cache and instanceof
// across modules are what they would be without the pack.
import fs from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

const PACK_VERSION = 4;

export interface PackedModule {
  /** Path relative to the pack's directory. */
  file: string;
  size: number;
  mtimeMs: number;
  source: string;
  /** Where V8's code cache for the wrapped source lies in the bytes after the JSON line. */
  cacheOffset: number;
  cacheLength: number;
}

/** A pack as read from its file: the JSON part, and the code caches' bytes it points into. */
export interface PackFile {
  pack: Pack;
  caches: Buffer;
}

export interface Pack {
  version: number;
  /** The program's module, relative to the pack's directory. */
  entry: string;
  modules: PackedModule[];
  /**
   * "<importing module's index>\0<request>" -> the index of the module it resolved to. (Indexes, not
   * paths: joining and normalising paths for each import cost tens of ms under TCG.)
   */
  resolutions: Record<string, number>;
}

/** The CommonJS loader's hooks this file uses (not in @types/node's public Module type). */
interface LoaderInternals {
  _resolveFilename(request: string, parent: Module | undefined, isMain: boolean, options?: { paths?: string[] }): string;
  _extensions: Record<string, (module: Module, filename: string) => void>;
  wrap(source: string): string;
}
const loader = Module as unknown as LoaderInternals;

type ModuleWrapper = (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;

/** The require a module's code gets, as Node's loader makes it: through module.require, so parents and children are kept. */
function requireFor(module: Module): NodeJS.Require {
  const moduleRequire = ((id: string) => module.require(id)) as NodeJS.Require;
  const resolve = ((request: string, options?: { paths?: string[] }) => loader._resolveFilename(request, module, false, options)) as NodeJS.RequireResolve;
  resolve.paths = (request: string) => require.resolve.paths(request);
  moduleRequire.resolve = resolve;
  moduleRequire.main = require.main;
  moduleRequire.cache = require.cache;
  moduleRequire.extensions = require.extensions;
  return moduleRequire;
}

/** Compiles a CommonJS module's wrapped source, from its code cache when given and V8 takes it. */
function compileWrapped(source: string, filename: string, codeCache?: Buffer): vm.Script {
  return new vm.Script(loader.wrap(source), { filename, cachedData: codeCache });
}

/** Runs a compiled module with its own module object and require, as Node's loader would. */
function runModule(module: Module, script: vm.Script, filename: string): void {
  const wrapper = script.runInThisContext() as ModuleWrapper;
  wrapper.call(module.exports, module.exports, requireFor(module), module, filename, path.dirname(filename));
}

/** Where the pack of a program module lives: next to it, `<name>.pack`. */
export function packPathFor(entry: string): string {
  return entry.replace(/\.js$/, '') + '.pack';
}

export function writePackFile(file: string, { pack, caches }: PackFile): void {
  fs.writeFileSync(file, Buffer.concat([Buffer.from(`${JSON.stringify(pack)}\n`), caches]));
}

/** A module's code cache: its slice of the bytes after the JSON line. */
export function moduleCache(caches: Buffer, module: PackedModule): Buffer {
  return caches.subarray(module.cacheOffset, module.cacheOffset + module.cacheLength);
}

/** The pack in `file`; throws if there is none or it is not a pack. */
export function readPackFile(file: string): PackFile {
  const bytes = fs.readFileSync(file);
  const newline = bytes.indexOf(10);
  if (newline < 0) throw new Error(`${file} is not a start-up pack`);
  return { pack: JSON.parse(bytes.toString('utf8', 0, newline)) as Pack, caches: bytes.subarray(newline + 1) };
}

/**
 * Records which modules `require(entry)` loads and how each import resolved. Run it in a process that
 * has loaded nothing of the program yet (the pack script's own process), or the modules already loaded
 * are left out.
 */
export function buildPack(entry: string): PackFile {
  const base = path.dirname(entry);
  const rel = (file: string): string => path.relative(base, file);
  const imports: Array<{ importer: string; request: string; resolved: string }> = [];
  const scripts = new Map<string, { source: string; script: vm.Script }>();
  const resolveFilename = loader._resolveFilename;
  const compileJs = loader._extensions['.js']!;
  loader._resolveFilename = function (request, parent, isMain, options) {
    const resolved = resolveFilename.call(this, request, parent, isMain, options);
    if (parent?.filename) imports.push({ importer: parent.filename, request, resolved });
    return resolved;
  };
  // Compiled the way installPack compiles them, so that each cache fits the wrapped source it will meet.
  loader._extensions['.js'] = function (module, filename) {
    const source = fs.readFileSync(filename, 'utf8');
    const script = compileWrapped(source, filename);
    scripts.set(filename, { source, script });
    runModule(module, script, filename);
  };
  // Compiled eagerly (--no-lazy), so the caches hold every function's bytecode and not only what the
  // top level ran: the guest then compiles nothing of ours. The default is back before the caches are
  // taken, as V8 takes a cache only under the flags it was made with.
  // (node:v8 is required here, not at the top: loading it pulls in Node's stream modules, 40-50 ms of
  // every packed program's start-up in the guest, for a build-time call.)
  const v8 = require('node:v8') as typeof import('node:v8');
  v8.setFlagsFromString('--no-lazy');
  try {
    require(entry);
  } finally {
    v8.setFlagsFromString('--lazy');
    loader._resolveFilename = resolveFilename;
    loader._extensions['.js'] = compileJs;
  }
  const caches: Buffer[] = [];
  let cacheOffset = 0;
  const modules = [...scripts].map(([file, { source, script }]): PackedModule => {
    const stat = fs.statSync(file);
    const cache = script.createCachedData();
    caches.push(cache);
    const packed = { file: rel(file), size: stat.size, mtimeMs: stat.mtimeMs, source, cacheOffset, cacheLength: cache.length };
    cacheOffset += cache.length;
    return packed;
  });
  const indexOf = new Map([...scripts.keys()].map((file, index) => [file, index]));
  const resolutions: Record<string, number> = {};
  for (const { importer, request, resolved } of imports) {
    const from = indexOf.get(importer), to = indexOf.get(resolved);
    if (from !== undefined && to !== undefined) resolutions[`${from}\0${request}`] = to;
  }
  return { pack: { version: PACK_VERSION, entry: rel(entry), modules, resolutions }, caches: Buffer.concat(caches) };
}

/** The pack for `entry`, if there is one of this version for this program; else undefined. */
function readPackFor(entry: string): PackFile | undefined {
  let packFile: PackFile;
  try {
    packFile = readPackFile(packPathFor(entry));
  } catch {
    return undefined;  // no pack (not built, or removed): load the ordinary way
  }
  const { pack } = packFile;
  return pack.version === PACK_VERSION && pack.entry === path.basename(entry) ? packFile : undefined;
}

/**
 * Whether every module of the pack (at `files`) is unchanged on disk. The stats go out together on
 * libuv's threads (each is a round trip to QEMU in the guest: one after the other they took about a
 * second there), so the caller can compile meanwhile.
 */
async function allUnchanged(pack: Pack, files: string[]): Promise<boolean> {
  // fs.stat, not fs.promises: loading node:fs/promises took 20-110 ms of start-up in the guest.
  const statOrUndefined = (file: string): Promise<fs.Stats | undefined> =>
    new Promise((resolve) => fs.stat(file, (error, stats) => resolve(error ? undefined : stats)));
  const stats = await Promise.all(files.map(statOrUndefined));
  return pack.modules.every((module, i) => stats[i] !== undefined && stats[i].size === module.size && stats[i].mtimeMs === module.mtimeMs);
}

/**
 * Serves the pack's modules to the CommonJS loader: their resolutions from the pack's table, their
 * code as compiled from the pack. Anything else (Node's own modules, the addon, a module the pack
 * lacks) loads as ever.
 */
function installPack(pack: Pack, files: string[], scripts: vm.Script[]): void {
  const indexOf = new Map(files.map((file, index) => [file, index]));
  const resolve = loader._resolveFilename;
  loader._resolveFilename = function (request, parent, isMain, options) {
    if (indexOf.has(request)) return request;
    const importer = parent?.filename === undefined ? undefined : indexOf.get(parent.filename);
    const resolved = importer === undefined ? undefined : pack.resolutions[`${importer}\0${request}`];
    return resolved === undefined ? resolve.call(this, request, parent, isMain, options) : files[resolved]!;
  };
  const compileJs = loader._extensions['.js']!;
  loader._extensions['.js'] = function (module, filename) {
    const index = indexOf.get(filename);
    if (index === undefined) return compileJs.call(this, module, filename);
    runModule(module, scripts[index]!, filename);
  };
}

/**
 * Loads a program module (absolute path of its .js), from its pack when that is fresh. The modules
 * are compiled from their caches while the freshness stats are out (compiling runs nothing of theirs;
 * a stale pack's scripts are dropped unrun).
 */
export async function requirePacked<T>(entry: string): Promise<T> {
  const packFile = readPackFor(entry);
  if (packFile) {
    const { pack, caches } = packFile;
    const files = pack.modules.map((module) => path.join(path.dirname(entry), module.file));
    const unchanged = allUnchanged(pack, files);
    const scripts = pack.modules.map((module, i) => compileWrapped(module.source, files[i]!, moduleCache(caches, module)));
    if (await unchanged) installPack(pack, files, scripts);
    // Said, because it is easy to miss: `npx tsc -p .` alone leaves the pack stale, and a run in the
    // guest then takes a second longer with nothing else to show why.
    else process.stderr.write(`${path.relative(process.cwd(), entry)}: its start-up pack is stale (modules changed since it was built; rebuild it with node dist/selftests/lib/pack.js): loading module by module\n`);
  }
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
      writePackFile(packPathFor(program), buildPack(program));
    } catch (error) {
      // No pack is no failure: the program then loads the ordinary way, only slower in the guest.
      fs.rmSync(packPathFor(program), { force: true });
      process.stderr.write(`no start-up pack for ${program}: ${(error as Error).message.split('\n')[0]}\n`);
    }
  }
}
