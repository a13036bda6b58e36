// What the VM runner needs from a kernel it boots, as kernel configuration options, and the check of a
// built tree's .config against it: a tree without KVM's Xen emulation or 9p is refused before a boot
// (exit 66) with the missing options named, rather than failing inside the guest after a minute.
// Modules (=m) are fine where the init loads them (initramfs.ts); the rest must be built in.
import fs from 'node:fs';
import path from 'node:path';

import { VmError } from './errors';

/** One need: any of `options` set to one of `values` meets it. */
export interface ConfigNeed {
  options: readonly string[];
  values: readonly ('y' | 'm')[];
  why: string;
}

const builtIn = ['y'] as const;
const builtInOrModule = ['y', 'm'] as const;

function need(option: string | readonly string[], values: readonly ('y' | 'm')[], why: string): ConfigNeed {
  return { options: typeof option === 'string' ? [option] : option, values, why };
}

export const RUNNER_CONFIG_NEEDS: readonly ConfigNeed[] = [
  need('64BIT', builtIn, 'a 64-bit kernel for the host\'s programs'),
  need('KVM', builtInOrModule, '/dev/kvm'),
  need(['KVM_AMD', 'KVM_INTEL'], builtInOrModule, 'KVM for the guest\'s CPU (AMD under TCG)'),
  need('KVM_XEN', builtIn, 'the Xen emulation the suite tests'),
  need('BLK_DEV_INITRD', builtIn, 'the runner\'s initramfs'),
  need('RD_GZIP', builtIn, 'the initramfs is gzipped'),
  need('BINFMT_ELF', builtIn, 'busybox and the host\'s programs'),
  need('BINFMT_SCRIPT', builtIn, 'the init is a #! script'),
  need('PRINTK', builtIn, 'kernel messages'),
  need('TTY', builtIn, 'the console'),
  need('SERIAL_8250', builtIn, 'the serial console'),
  need('SERIAL_8250_CONSOLE', builtIn, 'console=ttyS0'),
  need('PCI', builtIn, 'QEMU\'s virtio devices'),
  need('VIRTIO_PCI', builtIn, 'QEMU\'s virtio devices (the init loads no virtio_pci module)'),
  need('VIRTIO_CONSOLE', builtInOrModule, 'the command\'s stdout and stderr ports'),
  need('NET_9P_VIRTIO', builtInOrModule, 'the host\'s root over 9p'),
  need('9P_FS', builtInOrModule, 'the host\'s root over 9p'),
  need('DEVTMPFS', builtIn, '/dev'),
  need('PROC_FS', builtIn, '/proc'),
  need('SYSFS', builtIn, '/sys'),
  need('TMPFS', builtIn, 'the writable /tmp and /dev/shm'),
  need('ACPI', builtIn, 'poweroff on q35'),
  need('MULTIUSER', builtIn, 'setuid and friends, for Node'),
  need('FUTEX', builtIn, 'Node\'s threads'),
  need('EPOLL', builtIn, 'Node\'s event loop'),
  need('EVENTFD', builtIn, 'Node\'s event loop and KVM\'s irqfd'),
  need('TIMERFD', builtIn, 'Node\'s timers'),
  need('SIGNALFD', builtIn, 'Node\'s signals'),
  need('FILE_LOCKING', builtIn, 'flock, for the shared cache'),
  need('UNIX', builtIn, 'Node\'s child-process pipes'),
];

/** The options a .config sets: CONFIG_X=y gives X -> 'y'; "is not set" lines are left out. */
export function parseKernelConfig(text: string): Map<string, string> {
  const options = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (match) options.set(match[1]!, match[2]!);
  }
  return options;
}

/** The needs `config` does not meet. */
export function unmetNeeds(config: ReadonlyMap<string, string>, needs: readonly ConfigNeed[] = RUNNER_CONFIG_NEEDS): ConfigNeed[] {
  const unmet = needs.filter((wanted) => !wanted.options.some((option) => (wanted.values as readonly string[]).includes(config.get(option) ?? 'n')));
  // Anything needed as a module needs module support itself.
  const moduleNeeded = needs.some((wanted) => wanted.options.some((option) => config.get(option) === 'm'));
  if (moduleNeeded && config.get('MODULES') !== 'y') unmet.push(need('MODULES', builtIn, 'the options set to m are modules'));
  return unmet;
}

/** "CONFIG_KVM_XEN=y (the Xen emulation the suite tests)". */
export function describeNeed(wanted: ConfigNeed): string {
  const value = wanted.values.join(' or ');
  return `${wanted.options.map((option) => `CONFIG_${option}=${value}`).join(' or ')} (${wanted.why})`;
}

/** The tree's .config, parsed; a tree without one is no built tree. */
export function treeConfig(tree: string): Map<string, string> {
  const file = path.join(tree, '.config');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new VmError('badKernel', `kernel tree ${tree} has no readable .config (${(error as NodeJS.ErrnoException).code ?? 'error'}): the runner checks it before booting`);
  }
  return parseKernelConfig(text);
}

/** Refuses (exit 66) a tree whose .config lacks what the runner needs, naming every missing option. */
export function checkTreeConfig(tree: string): Map<string, string> {
  const config = treeConfig(tree);
  const unmet = unmetNeeds(config);
  if (unmet.length > 0) {
    throw new VmError('badKernel', `kernel tree ${tree} lacks what the VM runner needs; set in its .config and rebuild:\n${unmet.map((wanted) => `  ${describeNeed(wanted)}`).join('\n')}`);
  }
  return config;
}
