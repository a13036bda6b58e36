// Kernel trees for real: a small tree built with make from Debian's linux-source-6.12
// (kvm-xen tree build: tinyconfig + kvm_guest.config + kernel/tree.config; built once into the cache,
// minutes on a fresh machine), booted with --kernel TREE. Its stock KVM must give the same per-stage
// verdict as Debian's own kernel, the known gap included; build-kvm --tree with our patch must close
// the gap; a tree whose .config lacks KVM's Xen emulation or 9p is refused before a boot, naming them.
import fs from 'node:fs';
import path from 'node:path';

import t from 'tap';

import { buildKernelTree, KVM_MODULES } from '../lib/kbuild';
import { projectRoot } from '../lib/paths';
import { outcomeEntries } from '../lib/tap/compare';
import { parseTap } from '../lib/tap/parse';
import { resolveKernel, vmExitStatus } from '../lib/vm';
import { modinfo, readModule } from '../lib/vm/modinfo';
import { parseKernelConfig, RUNNER_CONFIG_NEEDS, unmetNeeds } from '../lib/vm/tree-config';
import { KNOWN_GAP } from '../selftests/evtchn/known-gap';
import { passes, runSuiteCli } from './helpers/suite-run';
import { runCli, stderrGist } from './helpers/vm';

/** The tests run on both kernels: the one whose stages the issue names, and one with the known gap. */
const TESTS = ['xen_shinfo_test', 'xen_migration_test'];
const patch = path.join(projectRoot, 'kernel', fs.readdirSync(path.join(projectRoot, 'kernel')).find((f) => f.endsWith('.patch'))!);

/**
 * "test: stage -> outcome" for every line of a suite run, keyed as `compare` keys them: a stage that
 * passes in one of its variants ("(optional sync point, not needed this run)", "(timer re-armed ...)")
 * is the same line either way (a run on 2 Dec differed from Debian's only by that).
 */
function verdict(stdout: string): string[] {
  return outcomeEntries(parseTap(stdout)).map(([key, outcome]) => `${key} -> ${outcome}`);
}

const vermagic = (file: string): string | undefined => modinfo(readModule(file), file).get('vermagic');

t.test('the runner\'s needs: a .config without them is told apart from one with them', async (t) => {
  const fragment = parseKernelConfig(fs.readFileSync(path.join(projectRoot, 'kernel', 'tree.config'), 'utf8'));
  t.same(unmetNeeds(fragment), [], 'kernel/tree.config asks for everything the runner needs');
  const without = new Map(fragment);
  without.delete('KVM_XEN');
  without.set('9P_FS', 'n');
  t.same(unmetNeeds(without).map((need) => need.options), [['KVM_XEN'], ['9P_FS']]);
  const builtIn = new Map([...fragment].filter(([option]) => option !== 'MODULES'));
  t.same(unmetNeeds(builtIn).map((need) => need.options), [['MODULES']], 'KVM=m without MODULES');
  t.ok(RUNNER_CONFIG_NEEDS.length > 20);
});

t.test('a kernel tree from linux-source-6.12, booted with --kernel TREE', async (t) => {
  const started = Date.now();
  const tree = await buildKernelTree();
  t.comment(`kvm-xen tree build: ${tree.built ? 'built' : 'reused'} ${tree.dir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const again = Date.now();
  const second = await buildKernelTree();
  t.same([second.dir, second.built], [tree.dir, false], 'the second time from the cache');
  t.comment(`cached: ${Date.now() - again} ms`);

  const kernel = await resolveKernel(tree.dir);
  for (const name of KVM_MODULES.map((module) => module.replace(/-/g, '_'))) {
    t.match(kernel.modules.get(name), path.join(tree.dir, 'arch', 'x86', 'kvm'), `${name} from the tree`);
  }
  t.equal(kernel.modules.get('9p'), undefined, '9p is built in: no module to load');
  const release = fs.readFileSync(path.join(tree.dir, 'include', 'config', 'kernel.release'), 'utf8').trim();
  t.match(release, /-kvm-xen$/, `the tree's release (${release}): kernel/tree.config's LOCALVERSION`);
  const uname = await runCli(['vm', '--timeout', '300', '--kernel', tree.dir, '--', 'sh', '-c', 'uname -r && test -c /dev/kvm && echo kvm-there']);
  t.equal(uname.status, 0, `vm --kernel TREE (stderr: ${stderrGist(uname)})`);
  t.equal(uname.stdout, `${release}\nkvm-there\n`, 'the guest runs the tree\'s kernel, with /dev/kvm from the tree\'s modules');

  await t.test('a tree whose .config lacks KVM_XEN and 9P_FS: 66 before any boot, both named', async (t) => {
    // The same tree's image with an edited copy of its .config: what a user's tree without them has.
    const dir = fs.mkdtempSync('/tmp/kvm-xen-tree-');
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.mkdirSync(path.join(dir, 'arch', 'x86', 'boot'), { recursive: true });
    fs.symlinkSync(kernel.bzImage, path.join(dir, 'arch', 'x86', 'boot', 'bzImage'));
    const config = fs.readFileSync(path.join(tree.dir, '.config'), 'utf8')
      .replace(/^CONFIG_KVM_XEN=y$/m, '# CONFIG_KVM_XEN is not set')
      .replace(/^CONFIG_9P_FS=y$/m, '# CONFIG_9P_FS is not set');
    fs.writeFileSync(path.join(dir, '.config'), config);
    for (const args of [['vm', '--kernel', dir, '--', 'true'], ['test', '--vm', '--kernel', dir, 'xen_shinfo_test']]) {
      const run = await runCli(args);
      t.equal(run.status, vmExitStatus.badKernel, `${args[0]}: 66 (stderr: ${run.stderr.trim()})`);
      t.match(run.stderr, /CONFIG_KVM_XEN=y \(/, 'names CONFIG_KVM_XEN');
      t.match(run.stderr, /CONFIG_9P_FS=y or m \(/, 'names CONFIG_9P_FS');
      t.notMatch(run.stderr, /CONFIG_VIRTIO_PCI/, 'and nothing the tree has');
      t.ok(run.ms < 10_000, `refused before a boot (${run.ms} ms)`);
    }
  });

  await t.test('its stock KVM gives the verdict of Debian\'s kernel, the known gap included', async (t) => {
    const debian = await runSuiteCli(t, ['test', '--vm', '--timeout', '900', ...TESTS], passes);
    t.equal(debian.status, 0, `Debian: status (stderr: ${stderrGist(debian)})`);
    const run = await runSuiteCli(t, ['test', '--vm', '--timeout', '900', '--kernel', tree.dir, ...TESTS], passes);
    t.equal(run.status, 0, `tree: status (stderr: ${stderrGist(run)})`);
    const expected = verdict(debian.stdout);
    t.ok(expected.length >= 30, `Debian's run has the stages (${expected.length})`);
    t.same(verdict(run.stdout), expected, 'stage by stage the same');
    const gap = parseTap(run.stdout).results.find((test) => test.description === 'xen_migration_test')?.subtest?.results
      .filter((stage) => stage.directive === 'XFAIL' && stage.reason === KNOWN_GAP) ?? [];
    t.equal(gap.length, 1, 'the known gap shows on the tree too');
  });

  await t.test('build-kvm --tree with our patch: modules of the tree that close the gap', async (t) => {
    const out = fs.mkdtempSync('/tmp/kvm-xen-tree-kvm-');
    t.teardown(() => fs.rmSync(out, { recursive: true, force: true }));
    const build = await runCli(['build-kvm', '--tree', tree.dir, '--patch', patch, '--out', out]);
    t.equal(build.status, 0, `build-kvm --tree (stderr: ${stderrGist(build, 1500)})`);
    t.equal(build.stdout.trim().split('\n').pop(), out);
    t.comment(build.stderr.trim().split('\n').pop() ?? '');
    for (const name of KVM_MODULES) {
      t.equal(vermagic(path.join(out, `${name}.ko`)), vermagic(kernel.modules.get('kvm')!), `${name}.ko is for the tree's kernel`);
    }
    const run = await runSuiteCli(t, ['test', '--vm', '--timeout', '900', '--strict', '--kernel', tree.dir, '--kvm-modules', out, ...TESTS], passes);
    t.equal(run.status, 0, `--strict with the patched modules (stderr: ${stderrGist(run)})`);
    const stages = verdict(run.stdout);
    t.ok(stages.length >= 30, `the stages ran (${stages.length})`);
    t.same(stages.filter((stage) => !stage.endsWith('-> pass')), [], 'every stage passes: the gap is closed');

    const debianTree = await runCli(['build-kvm', '--tree', path.join(out, 'nowhere'), '--patch', patch]);
    t.equal(debianTree.status, vmExitStatus.badKernel, 'a tree that is not there: 66');
    t.match(debianTree.stderr, 'is not a built kernel tree');
  });
});
