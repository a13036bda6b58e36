// Where kvm-xen keeps what it downloads and builds: $XDG_CACHE_HOME/kvm-xen, else ~/.cache/kvm-xen.
// KVM_XEN_CACHE overrides it (tests use a private one).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function cacheRoot(): string {
  const override = process.env['KVM_XEN_CACHE'];
  if (override) return override;
  const xdg = process.env['XDG_CACHE_HOME'];
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache'), 'kvm-xen');
}

/** The cache cannot be created (a HOME that is not writable or does not exist): the CLI exits 73. */
export class CacheError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CacheError';
  }
}

/** A subdirectory of the cache, created if missing. */
export function cacheDir(...parts: string[]): string {
  const dir = path.join(cacheRoot(), ...parts);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new CacheError(`cannot create the cache directory ${dir} (${code}); set KVM_XEN_CACHE (or XDG_CACHE_HOME) to a writable directory`);
  }
  return dir;
}

/** Marks a cache file as just used, so that pruneCacheFiles keeps it. */
export function markUsed(file: string): void {
  const now = new Date();
  fs.utimesSync(file, now, now);
}

/** Removes all but the `keep` most recently used files of `dir` whose names end in `suffix`. */
export function pruneCacheFiles(dir: string, suffix: string, keep: number): void {
  const files = fs.readdirSync(dir).filter((name) => name.endsWith(suffix))
    .map((name) => ({ file: path.join(dir, name), used: fs.statSync(path.join(dir, name)).mtimeMs }))
    .sort((a, b) => b.used - a.used);
  for (const old of files.slice(keep)) fs.rmSync(old.file, { force: true });
}

/**
 * Produces a cache entry once: `build` fills a fresh temporary directory, which is then renamed into
 * place, so an interrupted build never leaves a half-made entry behind.
 */
export async function cachedDirectory(dir: string, build: (tmp: string) => Promise<void>): Promise<string> {
  if (fs.existsSync(dir)) return dir;
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = fs.mkdtempSync(`${dir}.partial-`);
  try {
    await build(tmp);
    fs.renameSync(tmp, dir);
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (fs.existsSync(dir)) return dir;  // another process made it meanwhile
    throw error;
  }
  return dir;
}
