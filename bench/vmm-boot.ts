// Benchmark: lib/vmm booting Debian's kernel with the busybox initramfs of `kvm-xen boot` to a command
// (`true`) and back, against QEMU with -accel kvm booting the same kernel, initramfs and command line,
// both inside the runner's VM (nested KVM; this host's own /dev/kvm does not boot a kernel). The ratio is
// taken within each round and the median reported; goal at most 1.0x of QEMU. Each round also boots the
// same kernel as a Xen HVM guest (`--xen`), reported as a ratio of the plain lib/vmm boot. Run on the host: it
// starts the runner VM and runs itself inside with --inside.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { projectRoot } from '../lib/paths';
import { resolveKernel, runInVm } from '../lib/vm';
import { commandScript } from '../lib/vm/guest-init';
import { bootCmdline, bootCommand } from '../lib/vmm';
import { bootInitramfs } from '../lib/vmm/initramfs';
import { median, medianRatio } from './median';

export interface VmmBootBench {
  rounds: number;
  kernel: string;
  qemuMs: number;
  vmmMs: number;
  /** The median over the rounds of the VMM's time divided by QEMU's. */
  ratio: number;
  /** The VMM's own part: from creating the machine to the command's start. */
  vmmBootMs: number;
  /** The same boot as a Xen HVM guest (`kvm-xen boot --xen`, one vCPU like the others). */
  xenMs: number;
  /** The median over the rounds of the Xen boot's time divided by the plain lib/vmm boot's. */
  xenRatio: number;
  xenBootMs: number;
}

function timedQemu(args: string[]): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`QEMU exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
      else resolve(Number(process.hrtime.bigint() - started) / 1e6);
    });
  });
}

/** Inside the runner's VM: each round boots QEMU, then the VMM, with the same kernel and initramfs. */
async function inside(rounds: number, bzImage: string): Promise<Omit<VmmBootBench, 'kernel'>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-vmm-bench-'));
  try {
    // QEMU gets the initramfs the VMM builds, for `true`; its end marker goes to QEMU's console unread.
    const initrd = path.join(dir, 'initrd');
    const script = commandScript({ argv: ['true'], cwd: '/', env: { PATH: '/bin' } });
    fs.writeFileSync(initrd, bootInitramfs({ nonce: crypto.randomBytes(16).toString('hex'), script, consoleStdin: false }));
    const qemu = ['-accel', 'kvm', '-cpu', 'host', '-m', '512', '-smp', '1', '-nographic', '-no-reboot',
      '-kernel', bzImage, '-initrd', initrd, '-append', bootCmdline(false)];
    const qemuTimes: number[] = [];
    const vmmTimes: number[] = [];
    const vmmBoots: number[] = [];
    const xenTimes: number[] = [];
    const xenBoots: number[] = [];
    const timedVmm = async (xen: boolean, times: number[], boots: number[]): Promise<void> => {
      const started = process.hrtime.bigint();
      const result = await bootCommand({ kernel: bzImage, command: ['true'], memoryMb: 512, xen, output: { write: () => true } });
      if (result.status !== 0) throw new Error(`kvm-xen boot${xen ? ' --xen' : ''}: ${result.message}`);
      times.push(Number(process.hrtime.bigint() - started) / 1e6);
      boots.push(result.bootMs ?? 0);
    };
    for (let round = 0; round < rounds; round++) {
      qemuTimes.push(await timedQemu(qemu));
      await timedVmm(false, vmmTimes, vmmBoots);
      await timedVmm(true, xenTimes, xenBoots);
    }
    return {
      rounds, qemuMs: median(qemuTimes), vmmMs: median(vmmTimes), ratio: medianRatio(vmmTimes, qemuTimes), vmmBootMs: median(vmmBoots),
      xenMs: median(xenTimes), xenRatio: medianRatio(xenTimes, vmmTimes), xenBootMs: median(xenBoots),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchVmmBoot(rounds = 3): Promise<VmmBootBench> {
  const kernel = await resolveKernel('debian');
  let stdout = '';
  let stderr = '';
  const result = await runInVm({
    command: [process.execPath, path.join(projectRoot, 'dist', 'bench', 'vmm-boot.js'), '--inside', String(rounds), kernel.bzImage],
    cwd: projectRoot, smp: 2, timeoutMs: 60 * 60 * 1000,
    output: { write: (chunk) => { stdout += chunk.toString(); return true; } },
    errorOutput: { write: (chunk) => { stderr += chunk.toString(); return true; } },
  });
  if (result.status !== 0) throw new Error(`the benchmark in the VM failed (${result.status}): ${result.message || stderr.trim().split('\n').slice(-3).join(' | ') || stdout.trim().split('\n').pop()}`);
  return { ...(JSON.parse(stdout.trim().split('\n').pop()!) as Omit<VmmBootBench, 'kernel'>), kernel: kernel.description };
}

export function formatVmmBoot(b: VmmBootBench): string {
  return [
    `Linux boot to a command and back inside the runner's VM (nested KVM), ${b.kernel}, median of ${b.rounds}:`,
    `  QEMU -accel kvm (SeaBIOS)       ${b.qemuMs.toFixed(0).padStart(7)} ms`,
    `  lib/vmm (kvm-xen boot)          ${b.vmmMs.toFixed(0).padStart(7)} ms   ${b.ratio.toFixed(2)}x of QEMU (goal <= 1.0x); boot to the command ${b.vmmBootMs.toFixed(0)} ms`,
    `  lib/vmm as Xen HVM (--xen)      ${b.xenMs.toFixed(0).padStart(7)} ms   ${b.xenRatio.toFixed(2)}x of lib/vmm; boot to the command ${b.xenBootMs.toFixed(0)} ms`,
  ].join('\n');
}

if (require.main === module) {
  const fail = (error: Error): void => {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  };
  if (process.argv[2] === '--inside') {
    inside(Number(process.argv[3]), process.argv[4]!).then((b) => process.stdout.write(`${JSON.stringify(b)}\n`), fail);
  } else {
    benchVmmBoot(Number(process.argv[2] ?? 3)).then((b) => process.stdout.write(`${formatVmmBoot(b)}\n`), fail);
  }
}
