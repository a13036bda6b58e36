// --kvm-param without a VM: the parser and the option check, the values each parameter type takes, the
// check against a module's own .modinfo (a real one: Debian's kvm.ko), the per-run archive and the init's
// reading of it (run through /bin/sh, as busybox sh runs it in the guest), and the host's reading of
// KVM's force_emulation_prefix.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import { parseVmArgs } from '../bin/vm-flags';
import { kvmForcedEmulationEnabled } from '../lib/guest';
import { parseKvmParam, resolveKernel, validateVmOptions, VmError } from '../lib/vm';
import { INIT_PREAMBLE, initScript, moduleParamsDir, moduleParamsFile } from '../lib/vm/guest-init';
import { runArchive } from '../lib/vm/initramfs';
import { modinfoEntries, readModule } from '../lib/vm/modinfo';
import { reloadScript } from '../lib/vm/kvm-reload';
import { insmodArguments, moduleParameters, reloadArguments, validateKvmParams, valueProblem, type GuestModule } from '../lib/vm/module-params';
import { bootInitScript } from '../lib/vmm/guest-init';
import { thrownBy as thrown } from './helpers/thrown';

t.test('parseKvmParam: MODULE.PARAM=VALUE, the value may hold dots and equals signs', async (t) => {
  t.same(parseKvmParam('kvm.force_emulation_prefix=1'), { module: 'kvm', name: 'force_emulation_prefix', value: '1' });
  t.same(parseKvmParam('kvm-amd.avic=0'), { module: 'kvm-amd', name: 'avic', value: '0' });
  t.same(parseKvmParam('9p.x=a.b=c'), { module: '9p', name: 'x', value: 'a.b=c' });
  t.same(parseKvmParam("kvm.x=$(reboot);'`"), { module: 'kvm', name: 'x', value: "$(reboot);'`" }, 'shell characters are plain characters');
  for (const bad of ['kvm', 'kvm.nested', 'nested=1', '.nested=1', 'kvm.=1', 'kvm.nested=', 'kvm.a b=1', 'kvm.x=a b', 'kvm.x="1"', 'kvm.x=\t', 'kvm.x=é', 'kv/m.x=1', 'kvm.x=1\n']) {
    t.match(thrown(() => parseKvmParam(bad)), { name: 'RangeError' }, JSON.stringify(bad));
  }
});

t.test('the kvmParams option: an array of { module, name, value }, each parameter once; checked by validateVmOptions', async (t) => {
  t.doesNotThrow(() => validateVmOptions({ kvmParams: [] }));
  t.doesNotThrow(() => validateVmOptions({ kvmParams: [{ module: 'kvm', name: 'nested', value: '1' }, { module: 'kvm_amd', name: 'nested', value: '1' }] }));
  const cases: Array<[unknown, string, RegExp]> = [
    ['kvm.x=1', 'TypeError', /kvmParams must be an array/],
    [[null], 'TypeError', /kvmParams\[0\] must be an object/],
    [[{ module: 'kvm', name: 'x' }], 'TypeError', /kvmParams\[0\]\.value must be a string/],
    [[{ module: 'kvm', name: 'x', value: 1 }], 'TypeError', /value must be a string, got number/],
    [[{ module: 'kvm', name: 'x', value: 'a b' }], 'RangeError', /kvmParams\[0\] \(kvm\.x=a b\): the value must be printable ASCII/],
    [[{ module: 'k vm', name: 'x', value: '1' }], 'RangeError', /module name/],
    [[{ module: 'kvm-amd', name: 'avic', value: '1' }, { module: 'kvm_amd', name: 'avic', value: '0' }], 'RangeError', /kvmParams\[1\]: kvm_amd\.avic is set twice/],
  ];
  for (const [kvmParams, name, message] of cases) {
    t.match(thrown(() => validateVmOptions({ kvmParams } as never)), { name, message }, JSON.stringify(kvmParams));
    t.match(thrown(() => validateKvmParams(kvmParams)), { name, message });
  }
});

t.test('--kvm-param on the command line: repeatable, both spellings, a bad one is a usage error (64)', async (t) => {
  const { options, rest, command } = parseVmArgs(['--kvm-param', 'kvm.force_emulation_prefix=1', '--kvm-param=kvm_amd.avic=0', 'NAME', '--', 'true']);
  t.same(options.kvmParams, [{ module: 'kvm', name: 'force_emulation_prefix', value: '1' }, { module: 'kvm_amd', name: 'avic', value: '0' }]);
  t.same(rest, ['NAME']);
  t.same(command, ['true']);
  for (const argv of [['--kvm-param'], ['--kvm-param', 'kvm.nested'], ['--kvm-param', 'kvm.x=1', '--kvm-param', 'kvm.x=2']]) {
    const error = thrown(() => parseVmArgs(argv));
    t.ok(error instanceof VmError && error.status === 64, `${argv.join(' ')}: ${(error as Error).message}`);
    t.match((error as Error).message, /--kvm-param|kvm\.x is set twice/);
  }
});

t.test('values by parameter type, as the kernel reads them', async (t) => {
  for (const value of ['Y', 'n', '1', '0', 'yes', 'No', 'true', 'off']) t.equal(valueProblem('bool', value), undefined, `bool ${value}`);
  for (const value of ['2', 'maybe', 'Yy']) t.match(valueProblem('bool', value), /not a valid bool/, `bool ${value}`);
  t.equal(valueProblem('bint', 'Y'), undefined);
  for (const value of ['0', '-1', '+7', '0x1f', '017', '2147483647', '-2147483648']) t.equal(valueProblem('int', value), undefined, `int ${value}`);
  t.match(valueProblem('int', '2147483648'), /outside a int's range/);
  t.match(valueProblem('int', '08'), /not a valid int/, 'a leading 0 is octal');
  t.match(valueProblem('int', '1.5'), /not a valid int/);
  t.match(valueProblem('uint', '-1'), /outside/);
  t.equal(valueProblem('ushort', '65535'), undefined);
  t.match(valueProblem('ushort', '65536'), /outside/);
  t.equal(valueProblem('ulong', '18446744073709551615'), undefined);
  t.equal(valueProblem('array of int', '1,-2,0x3'), undefined);
  t.match(valueProblem('array of int', '1,x'), /"x" is not a valid int .*\(in the list "1,x"\)/);
  t.equal(valueProblem('charp', "any'thing$"), undefined);
  t.equal(valueProblem(undefined, 'anything'), undefined, 'a parameter without parmtype takes any value');
});

const fakeKvm: GuestModule = {
  name: 'kvm',
  info: [['license', 'GPL'], ['parmtype', 'nested:int'], ['parm', 'nested:allow nested virtualization'], ['parmtype', 'ignore_msrs:bool'], ['depends', 'irqbypass']],
};

t.test('insmodArguments: per module, in order; anything the module does not declare is a usage error naming its parameters', async (t) => {
  t.same(moduleParameters(fakeKvm.info), new Map([
    ['nested', { name: 'nested', type: 'int', description: 'allow nested virtualization' }],
    ['ignore_msrs', { name: 'ignore_msrs', type: 'bool' }],
  ]));
  const args = insmodArguments([parseKvmParam('kvm.nested=1'), parseKvmParam('kvm.ignore-msrs=Y')], [{ name: 'irqbypass', info: [] }, fakeKvm]);
  t.same([...args], [['kvm', ['nested=1', 'ignore_msrs=Y']]], "'-' and '_' alike in parameter names, as the kernel compares them");

  const usage = (params: string[], notLoaded?: Map<string, string>): VmError => {
    const error = thrown(() => insmodArguments(params.map(parseKvmParam), [fakeKvm], notLoaded));
    if (!(error instanceof VmError)) throw new Error(`not a VmError: ${String(error)}`);
    t.equal(error.status, 64, error.message);
    return error;
  };
  t.match(usage(['kvm.nope=1']).message, '--kvm-param kvm.nope=1: kvm has no parameter "nope"; its parameters: ignore_msrs (bool), nested (int)');
  t.match(usage(['kvm.nested=yes']).message, /"yes" is not a valid int/);
  t.match(usage(['foo.x=1']).message, /foo is not a module the guest loads: the guest loads only kvm/);
  t.match(usage(['kvm-intel.nested=1'], new Map([['kvm_intel', "the guest's CPU is AMD"]])).message, /kvm_intel is not a module the guest loads: the guest's CPU is AMD/);
});

t.test('a module swap: the parameters of the swapped modules only, checked against the new files, given to their insmod', async (t) => {
  const fakeAmd: GuestModule = { name: 'kvm_amd', info: [['parmtype', 'avic:bool']] };
  const params = ['kvm.nested=1', 'irqbypass.x=1', 'kvm-amd.avic=0'].map(parseKvmParam);
  const args = reloadArguments(params, [fakeKvm, fakeAmd]);
  t.same([...args], [['kvm', ['nested=1']], ['kvm_amd', ['avic=0']]], 'irqbypass is not swapped: its parameter is left alone');
  const dropped = thrown(() => reloadArguments([parseKvmParam('kvm.ignore_msrs=Y')], [{ name: 'kvm', info: [] }]));
  t.ok(dropped instanceof VmError && dropped.status === 64, 'new modules without a parameter the session has: a usage error');
  t.match((dropped as Error).message, 'kvm has no parameter "ignore_msrs"; it has no parameters');
  const script = reloadScript('/s/modules-3', args);
  t.match(script, /insmod '\/s\/modules-3\/kvm\.ko' 'nested=1' \|\| exit 1/, 'kvm.ko with its parameter');
  t.match(script, /insmod '\/s\/modules-3\/kvm-amd\.ko' 'avic=0' \|\| exit 1/, 'kvm-amd.ko with its own');
  t.match(reloadScript('/s/m', new Map()), /insmod '\/s\/m\/kvm-intel\.ko' \|\| exit 1/, 'no parameters: none given');
});

t.test("Debian's kvm.ko: its real parameters, force_emulation_prefix among them", async (t) => {
  const kernel = await resolveKernel('debian');
  const file = kernel.modules.get('kvm');
  if (!file) {
    t.fail('the Debian kernel has kvm as a module');
    return;
  }
  const params = moduleParameters(modinfoEntries(readModule(file), file));
  t.equal(params.get('force_emulation_prefix')?.type, 'int');
  t.ok(params.size > 10, `${params.size} parameters: ${[...params.keys()].join(' ')}`);
  t.same([...insmodArguments([parseKvmParam('kvm.force_emulation_prefix=1')], [{ name: 'kvm', info: modinfoEntries(readModule(file), file) }])], [['kvm', ['force_emulation_prefix=1']]]);
});

t.test("the init's reading of a parameter file gives insmod each argument exactly, whatever it holds", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-param-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const args = ['force_emulation_prefix=1', "x=$(touch pwned);'`\\*", 'y=a=b'];
  fs.writeFileSync(path.join(dir, 'kvm'), moduleParamsFile(args));
  // The same two lines the init runs before insmod (initScript), with printf in insmod's place.
  const script = `name=kvm\nset --\n[ -f ${dir}/$name ] && eval "set -- $(cat ${dir}/$name)"\nprintf '%s\\n' "$@"`;
  const run = spawnSync('/bin/sh', ['-c', script], { cwd: dir, encoding: 'utf8' });
  t.equal(run.stdout, `${args.join('\n')}\n`);
  t.notOk(fs.existsSync(path.join(dir, 'pwned')), 'nothing in a value was run');
  t.match(initScript, `[ -f /${moduleParamsDir}/$name ] && eval "set -- $(cat /${moduleParamsDir}/$name)"`, 'the init has those lines');
  t.match(initScript, 'insmod /modules/$name.ko "$@"');

  const archive = runArchive({ nonce: 'n', command: 'c' }, new Map([['kvm', args]])).toString('latin1');
  t.match(archive, `${moduleParamsDir}/kvm`, 'the per-run archive carries the file');
  t.match(archive, moduleParamsFile(args));
  t.notMatch(runArchive({ nonce: 'n', command: 'c' }).toString('latin1'), moduleParamsDir, 'and nothing without parameters');
});

t.test("both inits start with the one preamble", async (t) => {
  t.ok(initScript.startsWith(`${INIT_PREAMBLE}\n`), 'lib/vm');
  t.ok(bootInitScript.startsWith(`${INIT_PREAMBLE}\n`), 'lib/vmm');
  t.match(INIT_PREAMBLE, /^#!\/bin\/busybox sh\n/);
});

t.test("the host's reading of kvm.force_emulation_prefix (an int in 6.12, a bool before)", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fep-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'force_emulation_prefix');
  for (const [text, on] of [['0\n', false], ['1\n', true], ['3\n', true], ['Y\n', true], ['N\n', false]] as const) {
    fs.writeFileSync(file, text);
    t.equal(kvmForcedEmulationEnabled(file), on, JSON.stringify(text));
  }
  t.equal(kvmForcedEmulationEnabled(path.join(dir, 'absent')), false, 'no kvm module: off');
});
