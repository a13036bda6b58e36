// Debian packages without installing them: find versions with apt-cache, fetch .deb files with
// `apt-get download` into the cache (progress to the caller's onProgress), unpack them once with
// `dpkg-deb -x`. A second use of the same package and version needs no network. A .deb is checked
// against the package lists' Size and SHA256 before it is unpacked; a corrupt one (or one that does
// not unpack) is fetched again once, and a second failure is a CorruptPackage naming the file.
//
//   const version = await newestVersion('linux-source-6.12');
//   const root = await unpackedPackage('linux-source-6.12', version);   // a directory
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { cacheDir, cachedDirectory } from '../cache';
import { ProgramError, runProgram } from '../process';
import type { OnProgress } from '../progress';

export class PackageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PackageError';
  }
}

/** A Debian version (6.12.117-1~deb12u1, maybe with an epoch) as one safe directory name. */
export function versionDirName(version: string): string {
  return version.replace(/[:/~]/g, '_');
}

/** Orders Debian version strings (dpkg's rules) by asking dpkg itself. */
async function compareVersions(a: string, b: string): Promise<number> {
  if (a === b) return 0;
  const result = await runProgram('dpkg', ['--compare-versions', a, 'lt', b]);
  return result.status === 0 ? -1 : 1;
}

async function sortVersions(versions: string[]): Promise<string[]> {
  const sorted = [...versions];
  // Insertion sort: a handful of versions, each comparison one dpkg call.
  for (let i = 1; i < sorted.length; i++) {
    for (let j = i; j > 0 && (await compareVersions(sorted[j - 1]!, sorted[j]!)) > 0; j--) {
      [sorted[j - 1], sorted[j]] = [sorted[j]!, sorted[j - 1]!];
    }
  }
  return sorted;
}

/**
 * apt-cache answers take a second or two; they change only when the package lists do. Answers are
 * kept in the cache with a stamp of the lists (their directory's and apt's binary cache's mtimes).
 */
function listsStamp(): string {
  const mtime = (file: string): number => { try { return fs.statSync(file).mtimeMs; } catch { return 0; } };
  return `${mtime('/var/lib/apt/lists')}:${mtime('/var/cache/apt/pkgcache.bin')}:${process.env['APT_CONFIG'] ?? ''}`;
}

const answersFile = (): string => path.join(cacheDir(), 'apt-answers.json');

/** Drops the remembered answers: the package lists were just refreshed (apt.ts). */
export function forgetAptAnswers(): void {
  fs.rmSync(answersFile(), { force: true });
}

async function remembered(key: string, compute: () => Promise<string[]>): Promise<string[]> {
  const file = answersFile();
  const stamp = listsStamp();
  let answers: { stamp: string; values: Record<string, string[]> } = { stamp, values: {} };
  try {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof answers;
    if (saved.stamp === stamp) answers = saved;
  } catch {
    // none yet, or unreadable: start afresh
  }
  const known = answers.values[key];
  if (known) return known;
  const value = await compute();
  answers.values[key] = value;
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(answers));
  fs.renameSync(tmp, file);
  return value;
}

/** Package names starting with `prefix` that match `pattern`, from the package lists (offline). */
export async function matchingPackages(prefix: string, pattern: RegExp): Promise<string[]> {
  const names = await remembered(`pkgnames:${prefix}`, async () => {
    const result = await runProgram('apt-cache', ['pkgnames', prefix]);
    if (result.status !== 0) throw new PackageError(`apt-cache pkgnames failed: ${result.stderr.trim()}`);
    return result.stdout.split('\n').filter(Boolean).sort();
  });
  return names.filter((name) => pattern.test(name));
}

/** The versions of a package the package source offers, oldest first. */
export async function availableVersions(name: string): Promise<string[]> {
  return remembered(`versions:${name}`, async () => {
    const result = await runProgram('apt-cache', ['madison', name]);
    if (result.status !== 0) throw new PackageError(`apt-cache madison ${name} failed: ${result.stderr.trim()}`);
    const versions = new Set<string>();
    for (const line of result.stdout.split('\n')) {
      const [pkg, version] = line.split('|').map((field) => field.trim());
      if (pkg === name && version) versions.add(version);
    }
    return sortVersions([...versions]);
  });
}

export async function newestVersion(name: string): Promise<string> {
  const versions = await availableVersions(name);
  const newest = versions[versions.length - 1];
  if (!newest) throw new PackageError(`the package source offers no ${name} (try: apt-get update)`);
  return newest;
}

function debFileName(name: string, version: string): string {
  return `${name}_${version.replace(/:/g, '%3a')}_amd64.deb`;
}

/** What the package lists say a .deb must be (apt-cache show's Size: and SHA256:), when they say. */
interface DebDigest {
  size: number;
  sha256: string;
}

async function listedDigest(name: string, version: string): Promise<DebDigest | undefined> {
  let result;
  try {
    result = await runProgram('apt-cache', ['show', '--no-all-versions', `${name}=${version}`]);
  } catch (error) {
    if (error instanceof ProgramError) return undefined;  // no apt here: nothing to check against
    throw error;
  }
  const size = /^Size: (\d+)$/m.exec(result.stdout)?.[1];
  const sha256 = /^SHA256: ([0-9a-f]{64})$/m.exec(result.stdout)?.[1];
  return size === undefined || sha256 === undefined ? undefined : { size: Number(size), sha256 };
}

/** A .deb that fails its check against the package lists, or does not unpack, even after a re-fetch. */
export class CorruptPackage extends PackageError {
  constructor(readonly file: string, message: string) {
    super(message);
    this.name = 'CorruptPackage';
  }
}

/** Why `file` is not the .deb the lists describe (undefined: it is, or the lists do not say). */
export async function debMismatch(file: string, expected: DebDigest | undefined): Promise<string | undefined> {
  if (!expected) return undefined;
  const size = fs.statSync(file).size;
  if (size !== expected.size) return `${size} bytes where the package lists say ${expected.size}`;
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  const sha256 = hash.digest('hex');
  return sha256 === expected.sha256 ? undefined : `SHA256 ${sha256} where the package lists say ${expected.sha256}`;
}

function bytesIn(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += fs.statSync(path.join(entry.parentPath ?? entry.path, entry.name), { throwIfNoEntry: false })?.size ?? 0;
  }
  return total;
}

/** Reports a download's progress while apt-get fills `dir`; returns the function that ends it. */
function reportDownload(dir: string, name: string, expectedBytes: number | undefined, onProgress: OnProgress | undefined): () => void {
  if (!onProgress) return () => undefined;
  const report = (done: boolean): void => onProgress({ kind: 'download', name, bytes: bytesIn(dir), expectedBytes, done });
  const timer = setInterval(() => report(false), 250);
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    clearInterval(timer);
    report(true);
  };
}

/** Fetches name=version into `file` with `apt-get download`. */
async function fetchDeb(name: string, version: string, file: string, expected: DebDigest | undefined, onProgress: OnProgress | undefined): Promise<void> {
  const dir = path.dirname(file);
  onProgress?.({ kind: 'step', text: `fetching ${name} ${version}${expected ? ` (${(expected.size / 1e6).toFixed(1)} MB)` : ''} with apt-get download` });
  // apt-get download writes into its cwd; a private temporary dir keeps half-downloads out of the cache.
  const tmp = fs.mkdtempSync(path.join(dir, '.download-'));
  const endReport = reportDownload(tmp, name, expected?.size, onProgress);
  try {
    const result = await runProgram('apt-get', ['download', '-q', '-o', 'APT::Sandbox::User=root', `${name}=${version}`], {
      cwd: tmp,
      ...(onProgress ? { onStderr: (text: string) => onProgress({ kind: 'toolOutput', text }) } : {}),
    });
    endReport();
    const fetched = fs.readdirSync(tmp).find((entry) => entry.endsWith('.deb'));
    if (result.status !== 0 || !fetched) {
      throw new PackageError(`apt-get download ${name}=${version} failed (status ${result.status}): ${result.stderr.trim().split('\n').pop() ?? ''}`);
    }
    fs.renameSync(path.join(tmp, fetched), file);
  } finally {
    endReport();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The .deb of name=version in the cache, checked against the package lists' size and SHA256, and
 * downloaded with `apt-get download` if missing. `refetch` says why a cached copy must go (it did not
 * unpack): it is removed and fetched again.
 */
async function checkedDeb(name: string, version: string, onProgress: OnProgress | undefined, refetch?: string): Promise<string> {
  const file = path.join(cacheDir('debs'), debFileName(name, version));
  const expected = await listedDigest(name, version);
  let problem = refetch;
  if (problem === undefined && fs.existsSync(file)) {
    problem = await debMismatch(file, expected);
    if (problem === undefined) return file;
  }
  if (problem !== undefined) {
    onProgress?.({ kind: 'step', text: `${file} is corrupt (${problem}); fetching it again` });
    fs.rmSync(file, { force: true });
  }
  await fetchDeb(name, version, file, expected, onProgress);
  const fresh = await debMismatch(file, expected);
  if (fresh === undefined) return file;
  if (problem !== undefined) throw new CorruptPackage(file, `${file} is corrupt (${fresh}), fetched again after it was (${problem}); remove it and check the package source`);
  return checkedDeb(name, version, onProgress, fresh);
}

/** The .deb of name=version in the cache, checked against the package lists and downloaded if missing. */
export async function downloadedPackage(name: string, version: string, onProgress?: OnProgress): Promise<string> {
  return checkedDeb(name, version, onProgress);
}

/** Unpacks a .deb's files into `into` (dpkg-deb -x). */
export async function unpackDeb(deb: string, into: string, onProgress?: OnProgress): Promise<void> {
  onProgress?.({ kind: 'step', text: `unpacking ${path.basename(deb)}` });
  const result = await runProgram('dpkg-deb', ['-x', deb, into]);
  if (result.status !== 0) throw new PackageError(`dpkg-deb -x ${deb} failed: ${result.stderr.trim()}`);
}

/** Where name=version is (or will be) unpacked: packages/NAME_VERSION, with ':' written as '_'. */
function unpackedDir(name: string, version: string): string {
  return path.join(cacheDir('packages'), `${name}_${version.replace(/:/g, '_')}`);
}

/**
 * The packages already unpacked in the cache whose names match `pattern`: what can be used without
 * the network or the package lists (e.g. after the lists were cleaned).
 */
export function unpackedPackages(pattern: RegExp): Array<{ name: string; version: string; dir: string }> {
  const found = [];
  for (const entry of fs.readdirSync(cacheDir('packages'), { withFileTypes: true })) {
    const split = entry.name.indexOf('_');
    if (!entry.isDirectory() || split <= 0 || entry.name.includes('.partial-')) continue;
    // Package names have no '_', and versions no '_' of their own: each one was an epoch's ':'.
    const name = entry.name.slice(0, split);
    if (pattern.test(name)) found.push({ name, version: entry.name.slice(split + 1).replace(/_/g, ':'), dir: path.join(cacheDir('packages'), entry.name) });
  }
  return found;
}

/** The package's files, unpacked once into the cache (dpkg-deb -x); returns that directory. */
export async function unpackedPackage(name: string, version: string, onProgress?: OnProgress): Promise<string> {
  const target = unpackedDir(name, version);
  if (fs.existsSync(target)) return target;
  return cachedDirectory(target, async (tmp) => {
    const deb = await downloadedPackage(name, version, onProgress);
    try {
      await unpackDeb(deb, tmp, onProgress);
    } catch (error) {
      if (!(error instanceof PackageError)) throw error;
      // A .deb that matches the lists but does not unpack (or that the lists do not describe): once more.
      fs.rmSync(tmp, { recursive: true, force: true });
      fs.mkdirSync(tmp);
      const again = await checkedDeb(name, version, onProgress, error.message);
      try {
        await unpackDeb(again, tmp, onProgress);
      } catch (second) {
        if (!(second instanceof PackageError)) throw second;
        throw new CorruptPackage(again, `${again} does not unpack, even fetched again: ${second.message}`);
      }
    }
  });
}
