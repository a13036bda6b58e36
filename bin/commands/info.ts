// kvm-xen info: what a KVM device offers — its API version, the capabilities known by name with their
// values, and KVM_CAP_XEN_HVM decoded into its flags.
import { parseArgs } from 'node:util';

import { capabilities, type CapabilityName, Kvm, type XenHvmCaps, type XenHvmFlag, xenHvmFlags } from '../../lib/kvm';
import type { Command } from './command';

const usage = `usage: kvm-xen info [--device PATH] [--json]

Prints the KVM device's API version (KVM_GET_API_VERSION), each capability this library knows by name
with KVM_CHECK_EXTENSION's value for it, and KVM_CAP_XEN_HVM decoded into its flags.

  --device PATH  the KVM device (default /dev/kvm)
  --json         one JSON object instead of text

Exit status: 0, 1 when the device cannot be opened or asked, 64 for a usage error.`;

export interface KvmInfo {
  device: string;
  apiVersion: number;
  /** KVM_CHECK_EXTENSION by capability name, in capability-number order. */
  capabilities: Record<string, number>;
  /** KVM_CAP_XEN_HVM: the value, its flags by name, and any bits this library has no name for. */
  xenHvm: { raw: number; flags: string[]; unknownBits: number };
}

export function readKvmInfo(kvm: Kvm): KvmInfo {
  // The API version first: on a device that is not KVM, its failure is the one to report.
  const apiVersion = kvm.apiVersion();
  const names = (Object.keys(capabilities) as CapabilityName[]).sort((a, b) => capabilities[a] - capabilities[b]);
  const xen: XenHvmCaps = kvm.xenHvmCaps();
  return {
    device: kvm.path,
    apiVersion,
    capabilities: Object.fromEntries(names.map((name) => [name, kvm.checkExtension(name)])),
    xenHvm: { raw: xen.raw, flags: [...xen.flags], unknownBits: unnamedXenBits(xen.raw) },
  };
}

/** Bits of KVM_CAP_XEN_HVM without a name here (flags of a newer kernel). */
function unnamedXenBits(raw: number): number {
  const named = Object.values(xenHvmFlags).reduce((bits, bit) => bits | bit, 0);
  return (raw & ~named) >>> 0;
}

const hex = (value: number): string => `0x${value.toString(16)}`;

export function formatKvmInfo(info: KvmInfo): string {
  const { raw, flags, unknownBits } = info.xenHvm;
  const unnamed = '(bits without a name here)';
  const width = Math.max(...[...Object.keys(info.capabilities), ...flags, unnamed].map((name) => name.length));
  const lines = [`${info.device}: KVM API version ${info.apiVersion}`, '', 'capabilities (KVM_CHECK_EXTENSION):'];
  lines.push(`  ${'name'.padEnd(width)}  cap  value`);
  for (const [name, value] of Object.entries(info.capabilities)) {
    lines.push(`  ${name.padEnd(width)}  ${String(capabilities[name as CapabilityName]).padStart(3)}  ${value}`);
  }
  lines.push('', `KVM_CAP_XEN_HVM = ${hex(raw)}${raw === 0 ? ': no Xen support' : ''}`);
  for (const flag of flags) lines.push(`  ${flag.padEnd(width)}  ${hex(xenHvmFlags[flag as XenHvmFlag])}`);
  if (unknownBits !== 0) lines.push(`  ${unnamed.padEnd(width)}  ${hex(unknownBits)}`);
  return lines.join('\n');
}

export const info: Command = {
  summary: 'show what /dev/kvm offers: API version, capabilities by name, KVM_CAP_XEN_HVM flags',
  usage,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: { device: { type: 'string' }, json: { type: 'boolean' } },
    });
    // A KvmError (no such device, not KVM) is reported by the dispatcher: exit status 1.
    const kvm = Kvm.open(values.device ?? '/dev/kvm');
    let details: KvmInfo;
    try {
      details = readKvmInfo(kvm);
    } finally {
      kvm.close();
    }
    process.stdout.write(values.json ? `${JSON.stringify(details, null, 2)}\n` : `${formatKvmInfo(details)}\n`);
    return 0;
  },
};
