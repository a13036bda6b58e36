// KVM module parameters for the guest (`--kvm-param MODULE.PARAM=VALUE`, the runner's `kvmParams`). Their
// form is checked with the other options; before a boot they are checked again against the parameters
// the module files themselves declare (.modinfo's parm= and parmtype= entries: the real list, whatever
// kernel or --kvm-modules build is used), and become the arguments the guest's init gives insmod.
import { VmError } from './errors';
import { moduleKey } from './modinfo';

export interface KvmParam {
  /** The module: kvm, kvm_amd (or kvm-amd), kvm_intel, or any other module the guest loads. */
  module: string;
  /** The parameter's name, as /sys/module/MODULE/parameters lists it. */
  name: string;
  /** Its value, as insmod takes it: printable ASCII, no spaces, no double quotes. */
  value: string;
}

/** Module and parameter names: the kernel's own names use only these (and treat '-' as '_'). */
const NAME = /^[A-Za-z0-9_-]+$/;
/**
 * What a value may hold. The kernel splits insmod's arguments at spaces and gives double quotes a
 * meaning of its own, and no parameter needs control characters; everything else reaches the guest's
 * shell quoted, so `$`, `'` or `;` are plain characters.
 */
const VALUE = /^[\x21\x23-\x7e]+$/;

/** `kvm.force_emulation_prefix=1` as it is written on the command line. */
export function formatKvmParam(param: KvmParam): string {
  return `${param.module}.${param.name}=${param.value}`;
}

/** Parses MODULE.PARAM=VALUE; a RangeError names what is wrong. */
export function parseKvmParam(text: string): KvmParam {
  const match = /^([^.=]*)\.([^=]*)=([\s\S]*)$/.exec(text);
  if (!match) throw new RangeError(`a KVM module parameter is MODULE.PARAM=VALUE (e.g. kvm.force_emulation_prefix=1), got ${JSON.stringify(text)}`);
  const param = { module: match[1]!, name: match[2]!, value: match[3]! };
  checkForm(param, JSON.stringify(text));
  return param;
}

function checkForm(param: KvmParam, label: string): void {
  if (!NAME.test(param.module)) throw new RangeError(`${label}: the module name must be letters, digits, _ or -, got ${JSON.stringify(param.module)}`);
  if (!NAME.test(param.name)) throw new RangeError(`${label}: the parameter name must be letters, digits, _ or -, got ${JSON.stringify(param.name)}`);
  if (!VALUE.test(param.value)) {
    throw new RangeError(`${label}: the value must be printable ASCII without spaces or double quotes (insmod's argument syntax), got ${JSON.stringify(param.value)}`);
  }
}

/** The key one parameter has: module and parameter names with '-' and '_' alike, as the kernel compares them. */
function paramKey(param: KvmParam): string {
  return `${moduleKey(param.module)}.${param.name.replace(/-/g, '_')}`;
}

/** The check of the `kvmParams` option: an array of well-formed { module, name, value }, each set once. */
export function validateKvmParams(params: unknown): void {
  if (!Array.isArray(params)) throw new TypeError('kvmParams must be an array of { module, name, value }');
  const seen = new Set<string>();
  params.forEach((param: unknown, index) => {
    const label = `kvmParams[${index}]`;
    if (typeof param !== 'object' || param === null) throw new TypeError(`${label} must be an object { module, name, value }`);
    const { module, name, value } = param as Record<string, unknown>;
    for (const [field, text] of Object.entries({ module, name, value })) {
      if (typeof text !== 'string') throw new TypeError(`${label}.${field} must be a string, got ${typeof text}`);
    }
    const checked = param as KvmParam;
    checkForm(checked, `${label} (${formatKvmParam(checked)})`);
    const key = paramKey(checked);
    if (seen.has(key)) throw new RangeError(`${label}: ${key} is set twice`);
    seen.add(key);
  });
}

/** One parameter a module declares. */
export interface ModuleParameter {
  name: string;
  /** parmtype=: bool, int, uint, charp, "array of int", ... (absent for a few custom ones). */
  type?: string;
  /** parm=: the MODULE_PARM_DESC text. */
  description?: string;
}

/** The parameters a module declares, from its .modinfo entries (modinfoEntries), by name. */
export function moduleParameters(entries: readonly (readonly [string, string])[]): Map<string, ModuleParameter> {
  const params = new Map<string, ModuleParameter>();
  for (const [key, text] of entries) {
    if (key !== 'parm' && key !== 'parmtype') continue;
    const colon = text.indexOf(':');
    if (colon <= 0) continue;
    const name = text.slice(0, colon);
    const param = params.get(name) ?? { name };
    if (key === 'parmtype') param.type = text.slice(colon + 1);
    else param.description = text.slice(colon + 1);
    params.set(name, param);
  }
  return params;
}

/** kstrtobool's words (the kernel takes a few more spellings; these are the ones people write). */
const BOOLEAN = /^(?:y|n|yes|no|1|0|true|false|on|off)$/i;
const BOOLEAN_TYPES = new Set(['bool', 'invbool', 'bint']);
const INTEGER_RANGES: Readonly<Record<string, readonly [bigint, bigint]>> = {
  byte: [0n, 2n ** 8n - 1n],
  short: [-(2n ** 15n), 2n ** 15n - 1n],
  ushort: [0n, 2n ** 16n - 1n],
  int: [-(2n ** 31n), 2n ** 31n - 1n],
  uint: [0n, 2n ** 32n - 1n],
  hexint: [0n, 2n ** 32n - 1n],
  long: [-(2n ** 63n), 2n ** 63n - 1n],
  ulong: [0n, 2n ** 64n - 1n],
  ullong: [0n, 2n ** 64n - 1n],
};

/** An integer as the kernel's kstrto* read it with base 0: decimal, 0x hex or 0 octal, with a sign. */
function kernelInteger(text: string): bigint | undefined {
  const match = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!match) return undefined;
  const digits = match[2]!;
  const magnitude = /^0[xX]/.test(digits) ? BigInt(digits) : digits.length > 1 && digits.startsWith('0') ? BigInt(`0o${digits.slice(1)}`) : BigInt(digits);
  return match[1] === '-' ? -magnitude : magnitude;
}

/** Why `value` does not suit a parameter of `type`, or undefined when it does (or the type is not known here). */
export function valueProblem(type: string | undefined, value: string): string | undefined {
  if (type === undefined) return undefined;
  const array = /^array of (.+)$/.exec(type);
  if (array) {
    for (const item of value.split(',')) {
      const problem = valueProblem(array[1], item);
      if (problem) return `${problem} (in the list ${JSON.stringify(value)})`;
    }
    return undefined;
  }
  if (BOOLEAN_TYPES.has(type)) return BOOLEAN.test(value) ? undefined : `${JSON.stringify(value)} is not a valid ${type} (Y, N, 1, 0, yes, no, true, false, on, off)`;
  const range = INTEGER_RANGES[type];
  if (range) {
    const number = kernelInteger(value);
    if (number === undefined) return `${JSON.stringify(value)} is not a valid ${type} (decimal, 0x hex or 0 octal)`;
    if (number < range[0] || number > range[1]) return `${value} is outside a ${type}'s range ${range[0]} to ${range[1]}`;
  }
  return undefined;
}

/** A module the guest's init will load, with its .modinfo entries. */
export interface GuestModule {
  name: string;
  info: readonly (readonly [string, string])[];
}

function listParameters(params: Map<string, ModuleParameter>): string {
  if (params.size === 0) return 'it has no parameters';
  const names = [...params.values()].sort((a, b) => a.name.localeCompare(b.name)).map((param) => (param.type ? `${param.name} (${param.type})` : param.name));
  return `its parameters: ${names.join(', ')}`;
}

/**
 * Checks each parameter against the modules the guest loads and returns insmod's arguments per module
 * (name=value, in the order given). Anything the modules do not declare, or a value of the wrong
 * type, is a usage error naming the module's real parameters. `notLoaded` says why a module the
 * kernel has is left out in this guest (kvm_intel on an AMD CPU, say).
 */
export function insmodArguments(params: readonly KvmParam[], modules: readonly GuestModule[], notLoaded: ReadonlyMap<string, string> = new Map()): Map<string, string[]> {
  const args = new Map<string, string[]>();
  for (const param of params) {
    const flag = `--kvm-param ${formatKvmParam(param)}`;
    const name = moduleKey(param.module);
    const module = modules.find((candidate) => candidate.name === name);
    if (!module) {
      const why = notLoaded.get(name) ?? `the guest loads only ${modules.map((candidate) => candidate.name).join(', ') || 'no modules'} (a module built into the kernel takes its parameters from --append ${name}.PARAM=VALUE)`;
      throw new VmError('usage', `${flag}: ${name} is not a module the guest loads: ${why}`);
    }
    const declared = moduleParameters(module.info);
    const parameter = declared.get(param.name.replace(/-/g, '_')) ?? declared.get(param.name);
    if (!parameter) throw new VmError('usage', `${flag}: ${name} has no parameter ${JSON.stringify(param.name)}; ${listParameters(declared)}`);
    const problem = valueProblem(parameter.type, param.value);
    if (problem) throw new VmError('usage', `${flag}: ${problem}`);
    args.set(name, [...(args.get(name) ?? []), `${parameter.name}=${param.value}`]);
  }
  return args;
}

/**
 * insmod's arguments for the modules a session swaps in (kvm and the vendor's): the parameters of those
 * modules only (the others stay loaded as booted), checked against the new files as insmodArguments does.
 */
export function reloadArguments(params: readonly KvmParam[], modules: readonly GuestModule[]): Map<string, string[]> {
  const names = new Set(modules.map((module) => module.name));
  return insmodArguments(params.filter((param) => names.has(moduleKey(param.module))), modules);
}
