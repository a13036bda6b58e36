// The guest-side script that swaps KVM's modules without a reboot (a session's reloadKvmModules). A
// module in use cannot be unloaded, and the keeper (keeper.c) holds an idle VM open for the whole
// boot: it is stopped first, by the pid it wrote, and started again once the new modules are in, so
// the static keys it pins stay pinned (vm-on-this-machine.md). It runs in the chroot, where the host's
// static busybox (a runner requirement) and the keeper are visible at their host paths.
import { keeperPath } from '../paths';
import { SECONDARY_CPUS_BACK, SECONDARY_CPUS_OFFLINE } from './cpu-offline';
import { KEEPER_PID_FILE, shellQuote } from './guest-init';
import { BUSYBOX } from './host-tools';

/** Unloaded in this order (the vendor module first: it holds kvm); irqbypass and ccp stay. */
const UNLOAD_ORDER = ['kvm_amd', 'kvm_intel', 'kvm'];

/** The file a module is staged under for the reload (kvm_amd -> kvm-amd.ko, as the kernel names its files). */
export const stagedModuleFile = (name: string): string => `${name.replace(/_/g, '-')}.ko`;

/**
 * The script that loads `dir`'s kvm.ko and the CPU vendor's kvm-amd.ko or kvm-intel.ko in the guest,
 * each with its insmod arguments from `moduleArgs` (the session's --kvm-param, as the boot gave them).
 */
export function reloadScript(dir: string, moduleArgs: ReadonlyMap<string, readonly string[]> = new Map()): string {
  const bb = shellQuote(BUSYBOX);
  const insmod = (name: string): string => [`${bb} insmod ${module(name)}`, ...(moduleArgs.get(name) ?? []).map(shellQuote)].join(' ');
  const module = (name: string): string => shellQuote(`${dir}/${stagedModuleFile(name)}`);
  // Its messages (busybox's too) go to stdout, which the session hands back with the status.
  return `exec 2>&1
# A swap patches kernel text: static keys flip as the keeper's VM goes and comes back, kvm-amd's load
# rewrites kvm's static calls (cpu-offline.ts; CI saw the int3 flake hit a swap twice).
${SECONDARY_CPUS_OFFLINE}
trap '${SECONDARY_CPUS_BACK}' EXIT
pidfile=${shellQuote(KEEPER_PID_FILE)}
if [ -s "$pidfile" ]; then
  pid=$(cat "$pidfile")
  kill "$pid" 2> /dev/null
  # Its files are closed (the VM gone) once it is a zombie or reaped.
  while [ -e /proc/$pid ] && ! grep -q '^State:[[:space:]]*Z' /proc/$pid/status 2> /dev/null; do sleep 0.05; done
  rm -f "$pidfile"
fi
for name in ${UNLOAD_ORDER.join(' ')}; do
  [ -e /sys/module/$name/refcnt ] || continue
  tries=0
  # The last reference can take a moment to go after the VM's file is closed.
  until ${bb} rmmod $name; do
    tries=$((tries + 1))
    [ $tries -lt 50 ] || { echo "kvm-xen: cannot unload $name (still in use?)"; exit 1; }
    sleep 0.1
  done
done
${insmod('kvm')} || exit 1
if grep -q '^flags.* svm' /proc/cpuinfo && [ -e ${module('kvm_amd')} ]; then ${insmod('kvm_amd')} || exit 1; fi
if grep -q '^flags.* vmx' /proc/cpuinfo && [ -e ${module('kvm_intel')} ]; then ${insmod('kvm_intel')} || exit 1; fi
[ -c /dev/kvm ] || { echo "kvm-xen: no /dev/kvm after loading the modules"; exit 1; }
${shellQuote(keeperPath)} "$pidfile" < /dev/null > /dev/null 2>&1
`;
}
