// Benchmark: `kvm-xen vm -- true` from invocation to exit, against the bare QEMU recipe of
// vm-on-this-machine.md (same kernel, a hand-made initramfs with busybox and the modules, the same
// QEMU flags) in the same run, and the bare recipe with each of the runner's boot levers added in turn
// (one row each), and the runner as users get it: a warm start (the default for Debian's kernel,
// lib/vm/snapshot.ts) and a boot (--no-snapshot). Goal: the default at most 0.7x of the bare recipe. A boot under TCG moves by some ±10% from one run to the next, so the ratio
// is taken within each round (the runner against the bare boot before it) and the median of those is reported. The
// cold run (fresh cache: fetch, unpack, build the initramfs) is reported on its own.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

import { cacheDir } from '../lib/cache';
import { projectRoot } from '../lib/paths';
import { DEFAULT_KERNEL } from '../lib/debian/kernel';
import { resolveKernel, type KernelImage } from '../lib/vm';
import { cpioArchive, type CpioEntry } from '../lib/vm/cpio';
import { readModule } from '../lib/vm/modinfo';
import { fastBootArgs, qemuProgram } from '../lib/vm/qemu';
import { bootableKernel } from '../lib/vm/vmlinux';
import { median, medianRatio } from './median';

/** One boot recipe's median time, and its median ratio to the bare recipe's round by round. */
export interface BootRow {
  name: string;
  ms: number;
  ratio: number;
}

export interface BootBench {
  rounds: number;
  bareMs: number;
  /** The bare recipe with the runner's levers added one at a time (each row keeps the ones above it). */
  levers: BootRow[];
  /** The runner booting (--no-snapshot), its cache warm. */
  runnerBootMs: number;
  /** The median over the rounds of that boot's time divided by the bare boot's. */
  bootRatio: number;
  /** The runner with the cache cold (fetch, unpack, initramfs, and the boot that saves the state). */
  runnerColdMs: number;
  /** The runner as it comes (a warm start), restoring the state its first run saved. */
  runnerMs: number;
  ratio: number;
  /** That first run: a boot that saves the state at the snapshot point. */
  runnerSaveMs: number;
}

/** The shared doc's module list, in its order. */
const RECIPE_MODULES = ['netfs', '9pnet', '9pnet_virtio', '9p', 'irqbypass', 'kvm', 'ccp', 'kvm_amd'];
/** The same modules as two independent chains (the 9p one and the KVM one), loaded side by side. */
const MODULE_CHAINS = [['netfs', '9pnet', '9pnet_virtio', '9p'], ['irqbypass', 'kvm', 'ccp', 'kvm_amd']];

function recipeInitramfs(kernel: KernelImage, file: string, options: { gzip: boolean; parallel: boolean }): void {
  const insmod = (names: readonly string[]): string => `for m in ${names.join(' ')}; do /bin/busybox insmod /lib/modules/$m.ko; done`;
  const load = options.parallel ? `${MODULE_CHAINS.map((chain) => `(${insmod(chain)}) &`).join('\n')}\nwait` : insmod(RECIPE_MODULES);
  const init = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
${load}
/bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 hostroot /mnt
/bin/busybox mount -t proc proc /mnt/proc
/bin/busybox mount -t sysfs sys /mnt/sys
/bin/busybox mount -t devtmpfs dev /mnt/dev
/bin/busybox mount -t tmpfs tmp /mnt/tmp
/bin/busybox chroot /mnt true
/bin/busybox poweroff -f
`;
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'mnt', 'lib', 'lib/modules'].map((dir): CpioEntry => ({ kind: 'dir', path: dir })),
    { kind: 'file', path: 'bin/busybox', data: fs.readFileSync('/bin/busybox'), mode: 0o755 },
    { kind: 'file', path: 'init', data: Buffer.from(init), mode: 0o755 },
    ...RECIPE_MODULES.filter((name) => kernel.modules.has(name)).map((name): CpioEntry => ({
      kind: 'file', path: `lib/modules/${name}.ko`, data: readModule(kernel.modules.get(name)!),
    })),
  ];
  const archive = cpioArchive(entries);
  fs.writeFileSync(file, options.gzip ? zlib.gzipSync(archive, { level: 1 }) : archive);
}

function timed(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${command} exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
      else resolve(Number(process.hrtime.bigint() - started) / 1e6);
    });
  });
}

interface Recipe {
  name: string;
  args: string[];
}

/**
 * The bare recipe as a user types it (vm-on-this-machine.md), then with each of the runner's levers
 * added in turn, so that each row's gain over the row above is that lever's alone.
 */
function recipes(kernel: KernelImage, dir: string): Recipe[] {
  const initrd = (name: string, options: { gzip: boolean; parallel: boolean }): string => {
    const file = path.join(dir, name);
    recipeInitramfs(kernel, file, options);
    return file;
  };
  const gzipped = initrd('initrd.gz', { gzip: true, parallel: false });
  const plain = initrd('initrd', { gzip: false, parallel: false });
  const parallel = initrd('initrd-parallel', { gzip: false, parallel: true });
  const vmlinux = bootableKernel(kernel.bzImage);
  const share = ['-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap'];
  const machine = ['-machine', 'q35', '-accel', 'tcg', '-cpu', 'EPYC,+svm,+npt', '-m', '2048', '-smp', '2', '-no-reboot'];
  const nodefaults = ['-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio'];
  const boot = (io: string[], image: string, initramfs: string, append: string[]): string[] =>
    [...machine, ...io, '-kernel', image, '-initrd', initramfs, '-append', ['console=ttyS0', 'quiet', 'panic=-1', ...append].join(' '), ...share];
  const [lpj, noTimerCheck] = fastBootArgs();
  const rows: Recipe[] = [
    { name: 'bare QEMU recipe', args: boot(['-nographic'], kernel.bzImage, gzipped, []) },
    { name: '+ -nodefaults (no NIC, its iPXE ROM, VGA)', args: boot(nodefaults, kernel.bzImage, gzipped, []) },
    { name: `+ ${lpj!.replace(/=.*/, '=')} (no delay-loop calibration)`, args: boot(nodefaults, kernel.bzImage, gzipped, [lpj!]) },
    { name: `+ ${noTimerCheck}`, args: boot(nodefaults, kernel.bzImage, gzipped, [lpj!, noTimerCheck!]) },
  ];
  if (vmlinux !== kernel.bzImage) rows.push({ name: '+ vmlinux through PVH', args: boot(nodefaults, vmlinux, gzipped, [lpj!, noTimerCheck!]) });
  rows.push({ name: '+ uncompressed initramfs', args: boot(nodefaults, vmlinux, plain, [lpj!, noTimerCheck!]) });
  rows.push({ name: '+ modules in two parallel chains', args: boot(nodefaults, vmlinux, parallel, [lpj!, noTimerCheck!]) });
  return rows;
}

export async function benchVmBoot(rounds = 5): Promise<BootBench> {
  const kernel = await resolveKernel(DEFAULT_KERNEL);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-bench-'));
  try {
    const [bare, ...levers] = recipes(kernel, dir);
    const cli = path.join(projectRoot, 'dist', 'bin', 'kvm-xen.js');
    // A kernel argument of this run's own gives the default warm start a state of its own, saved here
    // and removed after (the user's own states stay as they were).
    const runner = ['vm', '--accel', 'tcg', '--append', `kvmxen.bench=${path.basename(dir)}`, '--', 'true'];
    const booting = ['vm', '--accel', 'tcg', '--no-snapshot', '--', 'true'];

    const runnerColdMs = await timed(process.execPath, [cli, ...runner], { ...process.env, KVM_XEN_CACHE: path.join(dir, 'cache') });
    await timed(process.execPath, [cli, ...booting]);  // warm our own cache
    const before = new Set(fs.readdirSync(cacheDir('snapshots')));
    const runnerSaveMs = await timed(process.execPath, [cli, ...runner]);
    const bareTimes: number[] = [];
    const leverTimes: number[][] = levers.map(() => []);
    const bootTimes: number[] = [];
    const runnerTimes: number[] = [];
    for (let round = 0; round < rounds; round++) {
      bareTimes.push(await timed(qemuProgram(), bare!.args));
      for (const [i, lever] of levers.entries()) leverTimes[i]!.push(await timed(qemuProgram(), lever.args));
      bootTimes.push(await timed(process.execPath, [cli, ...booting]));
      runnerTimes.push(await timed(process.execPath, [cli, ...runner]));
    }
    for (const name of fs.readdirSync(cacheDir('snapshots'))) if (!before.has(name)) fs.rmSync(path.join(cacheDir('snapshots'), name), { force: true });
    return {
      rounds,
      bareMs: median(bareTimes),
      levers: levers.map((lever, i) => ({ name: lever.name, ms: median(leverTimes[i]!), ratio: medianRatio(leverTimes[i]!, bareTimes) })),
      runnerBootMs: median(bootTimes),
      bootRatio: medianRatio(bootTimes, bareTimes),
      runnerColdMs,
      runnerMs: median(runnerTimes),
      ratio: medianRatio(runnerTimes, bareTimes),
      runnerSaveMs,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatVmBoot(b: BootBench): string {
  const row = (name: string, ms: number, after = ''): string => `  ${name.padEnd(45)} ${ms.toFixed(0).padStart(7)} ms${after ? `   ${after}` : ''}`;
  const ofBare = (ratio: number): string => `${ratio.toFixed(2)}x of bare`;
  return [
    `VM boot, "kvm-xen vm -- true" from invocation to exit (TCG), median of ${b.rounds} (of bare: the median of the rounds' ratios):`,
    row('bare QEMU recipe', b.bareMs),
    ...b.levers.map((lever) => row(lever.name, lever.ms, ofBare(lever.ratio))),
    row('kvm-xen vm --no-snapshot', b.runnerBootMs, `${ofBare(b.bootRatio)} (a boot, the cache warm)`),
    row('kvm-xen vm', b.runnerMs, `${ofBare(b.ratio)} (goal <= 0.7x): the default, restoring the saved guest`),
    row('kvm-xen vm, the saving boot', b.runnerSaveMs, '(once per kernel and options)'),
    row('kvm-xen vm, cold cache (once)', b.runnerColdMs, '(kernel fetch, unpack, initramfs, the saving boot)'),
  ].join('\n');
}

if (require.main === module) {
  benchVmBoot(Number(process.argv[2] ?? 5)).then((b) => process.stdout.write(`${formatVmBoot(b)}\n`), (error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  });
}
