// Benchmark: `kvm-xen vm -- true` from invocation to exit, against the bare QEMU recipe of
// vm-on-this-machine.md (same kernel, a hand-made initramfs with busybox and the modules, the same
// QEMU flags) in the same run. The ratio is the runner's own overhead; goal at most 1.2x with a warm
// cache. A boot under TCG moves by some ±10% from one run to the next, so the ratio is taken within
// each round (the runner against the bare boot before it) and the median of those is reported. The
// cold run (fresh cache: fetch, unpack, build the initramfs) is reported on its own.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

import { projectRoot } from '../lib/paths';
import { DEFAULT_KERNEL } from '../lib/debian/kernel';
import { resolveKernel, type KernelImage } from '../lib/vm';
import { cpioArchive, type CpioEntry } from '../lib/vm/cpio';
import { readModule } from '../lib/vm/modinfo';
import { median, medianRatio } from './median';

export interface BootBench {
  rounds: number;
  bareMs: number;
  runnerWarmMs: number;
  runnerColdMs: number;
  /** The median over the rounds of the runner's time divided by the bare boot's. */
  ratio: number;
}

/** The shared doc's module list, in its order. */
const RECIPE_MODULES = ['netfs', '9pnet', '9pnet_virtio', '9p', 'irqbypass', 'kvm', 'ccp', 'kvm_amd'];

function recipeInitramfs(kernel: KernelImage, file: string): void {
  const init = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in ${RECIPE_MODULES.join(' ')}; do /bin/busybox insmod /lib/modules/$m.ko; done
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
  fs.writeFileSync(file, zlib.gzipSync(cpioArchive(entries), { level: 1 }));
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

export async function benchVmBoot(rounds = 7): Promise<BootBench> {
  const kernel = await resolveKernel(DEFAULT_KERNEL);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-bench-'));
  try {
    const initrd = path.join(dir, 'initrd.gz');
    recipeInitramfs(kernel, initrd);
    const bare = ['-machine', 'q35', '-accel', 'tcg', '-cpu', 'EPYC,+svm,+npt', '-m', '2048', '-smp', '2', '-nographic', '-no-reboot',
      '-kernel', kernel.bzImage, '-initrd', initrd, '-append', 'console=ttyS0 quiet panic=-1',
      '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap'];
    const cli = path.join(projectRoot, 'dist', 'bin', 'kvm-xen.js');
    const runner = ['vm', '--accel', 'tcg', '--', 'true'];

    const coldCache = path.join(dir, 'cache');
    const runnerColdMs = await timed(process.execPath, [cli, ...runner], { ...process.env, KVM_XEN_CACHE: coldCache });
    await timed(process.execPath, [cli, ...runner]);  // warm our own cache
    const bareTimes: number[] = [];
    const runnerTimes: number[] = [];
    for (let round = 0; round < rounds; round++) {
      bareTimes.push(await timed('qemu-system-x86_64', bare));
      runnerTimes.push(await timed(process.execPath, [cli, ...runner]));
    }
    const bareMs = median(bareTimes);
    const runnerWarmMs = median(runnerTimes);
    return { rounds, bareMs, runnerWarmMs, runnerColdMs, ratio: medianRatio(runnerTimes, bareTimes) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatVmBoot(b: BootBench): string {
  return [
    `VM boot, "kvm-xen vm -- true" from invocation to exit (TCG), median of ${b.rounds} (of bare: the median of the rounds' ratios):`,
    `  bare QEMU recipe               ${b.bareMs.toFixed(0).padStart(7)} ms`,
    `  kvm-xen vm, warm cache         ${b.runnerWarmMs.toFixed(0).padStart(7)} ms   ${b.ratio.toFixed(2)}x of bare (goal <= 1.2x)`,
    `  kvm-xen vm, cold cache (once)  ${b.runnerColdMs.toFixed(0).padStart(7)} ms   (kernel fetch, unpack, initramfs)`,
  ].join('\n');
}

if (require.main === module) {
  benchVmBoot(Number(process.argv[2] ?? 7)).then((b) => process.stdout.write(`${formatVmBoot(b)}\n`), (error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  });
}
