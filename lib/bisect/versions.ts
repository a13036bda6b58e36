// The kernels a bisect across Debian's 6.12 kernels walks: from the good version to the bad one,
// every version the package source offers between them, in that direction (a later good version
// finds where something was fixed).

/** 6.12.107 of "debian:6.12.107", "6.12.107+deb12" or "6.12.107-1~deb12u1". */
export function upstreamOf(spec: string): string {
  return spec.replace(/^debian:/, '').split(/[+-]/)[0]!;
}

const sublevel = (version: string): number => Number(version.split('.')[2]);

/** [good, ..., bad] among `offered` (upstream versions); a RangeError names a version not offered. */
export function versionsBetween(offered: readonly string[], good: string, bad: string): string[] {
  const [from, to] = [upstreamOf(good), upstreamOf(bad)];
  for (const [flag, version] of [['--good', from], ['--bad', to]] as const) {
    if (!offered.includes(version)) throw new RangeError(`${flag} ${version}: the package source offers no such Debian kernel; it offers ${offered.join(', ') || 'none'}`);
  }
  if (from === to) throw new RangeError(`--good and --bad are the same version, ${from}`);
  const [low, high] = [Math.min(sublevel(from), sublevel(to)), Math.max(sublevel(from), sublevel(to))];
  const range = [...new Set(offered)].filter((version) => sublevel(version) >= low && sublevel(version) <= high).sort((a, b) => sublevel(a) - sublevel(b));
  return sublevel(from) <= sublevel(to) ? range : range.reverse();
}
