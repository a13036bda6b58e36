// A host as a new user may have it, made without touching the real one: a PATH lacking some programs,
// empty (stale) package lists, an empty cache.
import fs from 'node:fs';
import path from 'node:path';

/**
 * A directory of symlinks to every program in PATH except `hidden`: the same host with those tools
 * uninstalled. Removed with `dir`.
 */
export function pathWithout(hidden: readonly string[], dir: string): string {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  for (const from of (process.env['PATH'] ?? '').split(':').filter(Boolean)) {
    let entries: string[];
    try {
      entries = fs.readdirSync(from);
    } catch {
      continue;
    }
    for (const name of entries) {
      const link = path.join(bin, name);
      if (hidden.includes(name) || fs.existsSync(link)) continue;
      fs.symlinkSync(path.join(from, name), link);
    }
  }
  return bin;
}

/**
 * An APT_CONFIG whose package lists and binary caches are empty directories: apt offers only what is
 * installed, as on a machine whose lists were never fetched. `apt-get update` fills them (for real).
 */
export function emptyPackageLists(dir: string): string {
  for (const sub of ['lists/partial', 'cache/archives/partial']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  const config = path.join(dir, 'apt.conf');
  fs.writeFileSync(config, [
    `Dir::State::Lists "${dir}/lists";`,
    `Dir::Cache "${dir}/cache";`,
    // apt-get update drops to the _apt user unless told otherwise; it could not write our directory.
    'APT::Sandbox::User "root";',
  ].join('\n') + '\n');
  return config;
}

/**
 * Points this process's kvm-xen cache (KVM_XEN_CACHE) at `dir` for the rest of the test, and back to
 * what it was at its end. Set it once per test: a second call's teardown would restore the first's.
 */
export function useCache(t: { teardown(fn: () => void): void }, dir: string): void {
  const saved = process.env['KVM_XEN_CACHE'];
  process.env['KVM_XEN_CACHE'] = dir;
  t.teardown(() => {
    if (saved === undefined) delete process.env['KVM_XEN_CACHE'];
    else process.env['KVM_XEN_CACHE'] = saved;
  });
}
