// The kernel's scripts/checkpatch.pl as a maintainer runs it on a patch they receive, from Debian's
// kernel sources of one version. checkpatch wants the top of a kernel tree (it refuses to run
// otherwise, and under --strict reads include/ to know which CamelCase names already exist), so a
// partial tree is extracted once into the cache: scripts/, include/, the parts of the tree our patches
// touch, the top-level files, and one real file in each remaining directory checkpatch looks for.
// Perl modules it uses (POSIX, Getopt::Long, Term::ANSIColor, Encode) come with Debian's `perl`, which
// is installed (as root) or named before the run, like every host tool.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { cacheDir, cachedDirectory } from '../cache';
import { ensureTools, type HostTool } from '../debian/apt';
import { KERNEL_SOURCE, kernelSourceTarball } from '../debian/kernel';
import { versionDirName } from '../debian/packages';
import { runProgram } from '../process';
import type { OnProgress } from '../progress';
import { BuildError } from './kvm-source';

const PARTS = [
  'scripts', 'include', 'arch/x86', 'virt/kvm',
  'COPYING', 'CREDITS', 'Kbuild', 'MAINTAINERS', 'Makefile', 'README',
  // checkpatch's top_of_kernel_tree() only tests these directories for existence.
  'Documentation/dev-tools/checkpatch.rst',
  'drivers/Makefile', 'fs/Makefile', 'init/Makefile', 'ipc/Makefile', 'kernel/Makefile', 'lib/Makefile',
];

/** The partial source tree of `version` (e.g. 6.12.117-1~deb12u1) that checkpatch runs in. */
export async function checkpatchTree(version: string, onProgress?: OnProgress): Promise<string> {
  const dir = path.join(cacheDir('kbuild'), `checkpatch-tree-${versionDirName(version)}`);
  return cachedDirectory(dir, async (tmp) => {
    const tarball = await kernelSourceTarball(version, onProgress);
    onProgress?.({ kind: 'step', text: `extracting checkpatch and its tree from ${KERNEL_SOURCE} ${version}` });
    const result = await runProgram('tar', ['-xJf', tarball, '-C', tmp, '--strip-components=1', ...PARTS.map((p) => `${KERNEL_SOURCE}/${p}`)]);
    if (result.status !== 0) throw new BuildError(`extracting ${tarball} failed: ${result.stderr.trim()}`);
  });
}

export interface CheckpatchResult {
  /** checkpatch's exit status: 0 clean, 1 it found something. */
  status: number;
  /** Its report (stdout). */
  report: string;
  /** Errors, warnings and checks, from its "total:" line. */
  totals: { errors: number; warnings: number; checks: number };
}

const TOTALS = /^total: (\d+) errors?, (\d+) warnings?, (?:(\d+) checks?, )?\d+ lines? checked$/m;

/** Debian's `perl` with the modules checkpatch loads (a minimal system has only perl-base). */
const PERL: HostTool = {
  name: 'perl (with Term::ANSIColor, Getopt::Long, Encode)',
  package: 'perl',
  present: () => spawnSync('perl', ['-MPOSIX', '-MGetopt::Long', '-MTerm::ANSIColor', '-MEncode', '-e1'], { stdio: 'ignore' }).status === 0,
};

/** Runs `checkpatch.pl --strict` on one patch file inside the tree. */
export async function checkpatch(version: string, patch: string, onProgress?: OnProgress): Promise<CheckpatchResult> {
  await ensureTools([PERL], 'checkpatch', onProgress);
  const tree = await checkpatchTree(version, onProgress);
  const result = await runProgram('perl', [path.join(tree, 'scripts', 'checkpatch.pl'), '--strict', '--color=never', path.resolve(patch)], { cwd: tree });
  const totals = TOTALS.exec(result.stdout);
  if (!totals) throw new BuildError(`checkpatch gave no totals for ${patch} (status ${result.status}):\n${(result.stdout + result.stderr).trim()}`);
  return {
    status: result.status,
    report: result.stdout,
    totals: { errors: Number(totals[1]), warnings: Number(totals[2]), checks: Number(totals[3] ?? 0) },
  };
}
