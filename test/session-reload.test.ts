// A session's module swap (what `test --vm --watch` does on every patch change) keeps the --kvm-param
// the guest was booted with. In one TCG boot (an AMD guest: kvm and kvm_amd): both parameters have the
// values asked for; the test then writes other values through sysfs, swaps the modules, and reads the
// asked-for values again. That can only happen if the modules were really unloaded (a module left in
// place would keep the written values) and loaded again with the parameters (without them a fresh
// module has its defaults, 0 and N, which are the written values too). The TCG boot brings up the second
// CPU only after the modules are in, and the swap takes it offline and back (cpu-offline.ts).
import path from 'node:path';

import t from 'tap';

import { GuestSession, prepareKernel, type KvmParam } from '../lib/vm';

const PARAMS: KvmParam[] = [
  { module: 'kvm', name: 'force_emulation_prefix', value: '1' },
  // Writable (0644) and default N: one of the few kvm_amd parameters the test can change in place.
  { module: 'kvm_amd', name: 'dump_invalid_vmcb', value: 'Y' },
];
const FILES = ['/sys/module/kvm/parameters/force_emulation_prefix', '/sys/module/kvm_amd/parameters/dump_invalid_vmcb'];

t.test('reloadKvmModules loads the new modules with the session\'s kvmParams', async (t) => {
  const kernel = await prepareKernel({});
  const own = kernel.modules.get('kvm');
  t.ok(own, 'the kernel has a kvm module');
  const session = await GuestSession.start({ accel: 'tcg', kvmParams: PARAMS, timeoutMs: 20 * 60 * 1000 });
  t.teardown(() => session.kill());
  const read = async (): Promise<string> => {
    const result = await session.run(['cat', ...FILES]);
    t.equal(result.status, 0, `cat the parameters (output: ${result.output.trim()})`);
    return result.output.trim().split('\n').join(' ');
  };

  t.equal(await read(), '1 Y', 'booted with the parameters');
  const cpuState = async (): Promise<string[]> => (await session.run(['sh', '-c', "cat /sys/devices/system/cpu/online; dmesg | grep -c 'CPU 1 is now offline'"])).output.trim().split('\n');
  t.same(await cpuState(), ['0-1', '0'], 'booted on one CPU (maxcpus=1), the init brought up the other');
  // The keeper's VMs and vCPUs (keeper.c: each pins static keys KVM would otherwise flip as tests run).
  const keeperFiles = async (): Promise<string[]> => (await session.run(['sh', '-c', 'for fd in /proc/$(cat /run/kvm-xen-keeper.pid)/fd/*; do readlink $fd; done | grep kvm | sort | uniq -c'])).output.trim().split('\n').map((line) => line.trim().replace(/\s+/, ' '));
  const held = ['1 /dev/kvm', '2 anon_inode:kvm-vcpu:0', '2 anon_inode:kvm-vm'];
  t.same(await keeperFiles(), held, 'the keeper holds two VMs with a vCPU each');
  const written = await session.run(['sh', '-c', `echo 0 > ${FILES[0]} && echo N > ${FILES[1]}`]);
  t.equal(written.status, 0, 'other values written in place');
  t.equal(await read(), '0 N', 'and read back');

  // The kernel's own modules (their directory, as --kvm-modules takes it): kvm.ko.xz, kvm-amd.ko.xz, ...
  const reload = await session.reloadKvmModules(path.dirname(own!));
  t.equal(reload.status, 0, `the swap (output: ${reload.output.trim()})`);
  t.equal(await read(), '1 Y', 'after the swap: the asked-for values again, not the written ones nor the defaults');
  t.same(await cpuState(), ['0-1', '1'], 'the swap ran on the boot CPU alone, and gave CPU 1 back');
  t.same(await keeperFiles(), held, 'and after the swap, the new keeper too');
  const ended = await session.close();
  t.equal(ended.status, 0, 'the session ends cleanly');
});
