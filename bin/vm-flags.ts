// The VM flags shared by `kvm-xen vm`, `kvm-xen test --vm` and `kvm-xen compare`, parsed one way.
import { MAX_SMP, MIN_MEM_MB, parseKvmParam, validateVmOptions, VmError, type Accel, type VmOptions } from '../lib/vm';

export const vmOptionsHelp = `VM options:
  --kernel K        debian (default: the newest Debian 6.12 amd64 kernel), debian:VERSION,
                    a bzImage file, or a kernel tree built with make (its bzImage and modules;
                    its .config is checked first: exit 66 naming the options the runner lacks)
  --kvm-modules DIR load kvm.ko / kvm-amd.ko / kvm-intel.ko from DIR instead of the kernel's own
  --kvm-param MODULE.PARAM=VALUE
                    load MODULE with PARAM=VALUE (repeatable), e.g. kvm.force_emulation_prefix=1;
                    checked before the boot against the parameters the module file declares
  --accel A         auto (default: KVM if the host can nest, else TCG), kvm, tcg
  --smp N           vCPUs (default 2, at most ${MAX_SMP})
  --mem MB          memory in MiB (default 2048; ${MIN_MEM_MB} to the host's memory)
  --timeout S       limit for the whole run in seconds (default 1800)
  --append ARGS     extra kernel command-line arguments
  --env K=V         set an environment variable for the command (repeatable; K a shell name;
                    PATH, HOME=/tmp and TERM are set already, and KVM_XEN_GUEST_KERNEL
                    names the bzImage the VM booted)
  --verbose         show the guest kernel's console on stderr
  --snapshot        a warm start (TCG): the first run saves the booted guest's state in the
                    cache (100-200 MB), later runs with the same kernel, modules and options
                    restore it instead of booting (about 2 s instead of 10). The default for a
                    Debian kernel without --kvm-modules or --verbose; elsewhere it must be asked for
  --no-snapshot     always boot, and save nothing`;

/** The flags that take no value: the option each sets, and to what. */
const switches: ReadonlyMap<string, { option: 'verbose' | 'snapshot'; value: boolean }> = new Map([
  ['--verbose', { option: 'verbose', value: true }],
  ['--snapshot', { option: 'snapshot', value: true }],
  ['--no-snapshot', { option: 'snapshot', value: false }],
]);

const valued = new Set(['--kernel', '--kvm-modules', '--kvm-param', '--accel', '--smp', '--mem', '--timeout', '--append', '--env']);

function positiveInteger(flag: string, value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0) throw new VmError('usage', `${flag} needs a positive integer, got ${JSON.stringify(value)}`);
  return number;
}

/** The library's check of the options (lib/vm/options.ts), as a usage error naming the flag. */
export function checkVmOptions(options: VmOptions): void {
  try {
    validateVmOptions(options);
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) throw new VmError('usage', error.message);
    throw error;
  }
}

/** Applies one VM flag to `options` (checked at once); returns false if `flag` is not a VM flag. */
export function applyVmFlag(options: VmOptions, flag: string, value: string | undefined): boolean {
  const switched = switches.get(flag);
  if (switched) {
    if (value !== undefined) throw new VmError('usage', `${flag} takes no value`);
    options[switched.option] = switched.value;
    return true;
  }
  if (!valued.has(flag)) return false;
  if (value === undefined) throw new VmError('usage', `${flag} needs a value`);
  try {
    setVmOption(options, flag, value);
  } catch (error) {
    if (error instanceof RangeError) throw new VmError('usage', `${flag}: ${error.message}`);
    throw error;
  }
  checkVmOptions(options);
  return true;
}

function setVmOption(options: VmOptions, flag: string, value: string): void {
  switch (flag) {
    case '--kernel': options.kernel = value; break;
    case '--kvm-modules': options.kvmModules = value; break;
    case '--kvm-param': options.kvmParams = [...(options.kvmParams ?? []), parseKvmParam(value)]; break;
    case '--accel':
      if (value !== 'auto' && value !== 'kvm' && value !== 'tcg') throw new VmError('usage', `--accel must be auto, kvm or tcg, got ${JSON.stringify(value)}`);
      options.accel = value as Accel;
      break;
    case '--smp': options.smp = positiveInteger(flag, value); break;
    case '--mem': options.memMb = positiveInteger(flag, value); break;
    case '--timeout': options.timeoutMs = positiveInteger(flag, value) * 1000; break;
    case '--append': options.append = value; break;
    case '--env': {
      const eq = value.indexOf('=');
      if (eq <= 0) throw new VmError('usage', `--env needs NAME=VALUE, got ${JSON.stringify(value)}`);
      options.env = { ...options.env, [value.slice(0, eq)]: value.slice(eq + 1) };
      break;
    }
  }
}

/**
 * Splits argv into VM options and everything else (kept in order). `--flag=value` and `--flag value`
 * both work. Stops at `--`: what follows is returned as `command`.
 */
export function parseVmArgs(argv: readonly string[]): { options: VmOptions; rest: string[]; command: string[] | undefined } {
  const options: VmOptions = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return { options, rest, command: argv.slice(i + 1) };
    const eq = arg.indexOf('=');
    const [flag, inline] = arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    if (!valued.has(flag)) {
      if (!applyVmFlag(options, flag, inline)) rest.push(arg);
      continue;
    }
    const value = inline ?? argv[++i];
    applyVmFlag(options, flag, value);
  }
  return { options, rest, command: undefined };
}
