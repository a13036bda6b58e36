// The QEMU command line: q35, the kernel and initramfs, the host root over 9p (read-only), the console
// on the serial port (QEMU's stdout), the command's stdout and stderr on two virtio-serial ports (each
// a FIFO on the host: a 16550 UART under TCG moves about 0.4 MB/s, virtio-serial far more), and the
// accelerator: KVM with -cpu host where the host's KVM can nest, else TCG with an SVM-capable CPU.
import fs from 'node:fs';

import { controlPort, outputPorts, shellQuote } from './guest-init';

export type Accel = 'auto' | 'kvm' | 'tcg';

/** QEMU's program: qemu-system-x86_64 from PATH, or the one KVM_XEN_QEMU names (a QEMU you built). */
export function qemuProgram(): string {
  return process.env['KVM_XEN_QEMU'] || 'qemu-system-x86_64';
}

export interface QemuOptions {
  bzImage: string;
  initrd: string;
  append: string;
  /** FIFOs QEMU writes the command's stdout and stderr into. */
  stdoutFifo: string;
  stderrFifo: string;
  accel: 'kvm' | 'tcg';
  smp: number;
  memMb: number;
  /**
   * A warm start (snapshot.ts): QEMU's monitor and the guest's control port on these UNIX sockets, a
   * VM generation id (a restored guest's kernel reseeds its random numbers when it changes), and the
   * saved state to restore, if any.
   */
  warm?: { monitorSocket: string; controlSocket: string; restoreFrom: string | undefined };
}

function readFlag(file: string): boolean {
  try {
    return /^(1|Y)/.test(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return false;
  }
}

/** KVM with nested virtualisation: a real kvm_amd or kvm_intel with nested=1, and /dev/kvm usable. */
export function hostCanNest(): boolean {
  const nested = readFlag('/sys/module/kvm_amd/parameters/nested') || readFlag('/sys/module/kvm_intel/parameters/nested');
  if (!nested) return false;
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export function resolveAccel(accel: Accel): 'kvm' | 'tcg' {
  if (accel === 'auto') return hostCanNest() ? 'kvm' : 'tcg';
  return accel;
}

/** A value inside a QEMU -option list, where a comma separates options unless doubled. */
function optionValue(value: string): string {
  return value.replace(/,/g, ',,');
}

/** The CPU model under TCG: AMD's, with SVM and nested paging for the guest's KVM. */
const TCG_CPU = 'EPYC,+svm,+npt';

export type CpuVendor = 'amd' | 'intel' | 'other';
export const cpuVendorNames: Readonly<Record<CpuVendor, string>> = { amd: 'AMD', intel: 'Intel', other: 'neither AMD nor Intel' };

/**
 * The vendor the guest's init will see (by its rule: an svm or vmx flag in /proc/cpuinfo): TCG's model
 * is AMD's; under KVM the guest has the host's CPU.
 */
export function guestCpuVendor(accel: 'kvm' | 'tcg'): CpuVendor {
  if (accel === 'tcg') return 'amd';
  const flags = /^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.split(/\s+/) ?? [];
  return flags.includes('svm') ? 'amd' : flags.includes('vmx') ? 'intel' : 'other';
}

/** The tick rate of Debian's kernels (CONFIG_HZ=250), which lpj= counts loops per. */
const GUEST_HZ = 250;

/** The host's clock in MHz (the guest's TSC runs at it), or a plausible one. */
function hostMhz(): number {
  try {
    const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1]);
    return mhz > 0 ? mhz : 2000;
  } catch {
    return 2000;
  }
}

/**
 * Kernel arguments that should only make the boot faster, measured one by one as rows of
 * bench/vm-boot.ts (README "Benchmarks"). Not on the runner's command line yet: on the loaded machine of
 * 1 Dec 2026 no gain showed, and the port's timer stages failed more often in VMs booted with them
 * (and PVH); to be settled on a quiet machine before the runner takes them.
 * - lpj: the delay-loop calibration is skipped. Under TCG the second CPU's calibration fails its
 *   checks and retries for about a second; the value only matters for delays before the TSC is used.
 * - no_timer_check: no test that the IO-APIC timer ticks (KVM guests set it for themselves).
 */
export function fastBootArgs(): string[] {
  return [`lpj=${Math.round((hostMhz() * 1e6) / GUEST_HZ)}`, 'no_timer_check'];
}

export function qemuArgs(options: QemuOptions): string[] {
  const cpu = options.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg', '-cpu', TCG_CPU];
  return [
    '-machine', 'q35', ...cpu,
    '-m', String(options.memMb), '-smp', String(options.smp),
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-chardev', 'stdio,id=console,signal=off', '-serial', 'chardev:console',
    '-device', 'virtio-serial-pci,id=vser',
    '-chardev', `file,id=stdout,path=${optionValue(options.stdoutFifo)}`, '-device', `virtserialport,bus=vser.0,chardev=stdout,name=${outputPorts.stdout}`,
    '-chardev', `file,id=stderr,path=${optionValue(options.stderrFifo)}`, '-device', `virtserialport,bus=vser.0,chardev=stderr,name=${outputPorts.stderr}`,
    '-kernel', options.bzImage, '-initrd', options.initrd, '-append', options.append,
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    ...(options.warm ? warmArgs(options.warm) : []),
  ];
}

function warmArgs(warm: NonNullable<QemuOptions['warm']>): string[] {
  return [
    '-chardev', `socket,id=control,path=${optionValue(warm.controlSocket)},server=on,wait=off`,
    '-device', `virtserialport,bus=vser.0,chardev=control,name=${controlPort}`,
    '-monitor', `unix:${optionValue(warm.monitorSocket)},server=on,wait=off`,
    '-device', 'vmgenid,guid=auto',
    ...(warm.restoreFrom ? ['-incoming', `exec:cat ${shellQuote(warm.restoreFrom)}`] : []),
  ];
}
