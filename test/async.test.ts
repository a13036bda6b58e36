// Async runs: the guest runs on the vCPU's own thread while the event loop goes on (timers fire, guest
// memory can be read), kick() ends a guest that never exits by itself, and one run at a time.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import t from 'tap';

import { basicsMachine, kvmOrSkip } from './helpers/kvm';

const KICK_LATENCY_LIMIT_MS = 500;

t.test('a timer fires while the guest spins; kick ends the spinning guest', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'spin');
  const spins = machine.symbol('spins');
  const run = machine.vcpu.runAsync();
  let settled = false;
  void run.finally(() => { settled = true; });

  let timerFired = false;
  setTimeout(() => { timerFired = true; }, 20);
  await sleep(40);
  t.ok(timerFired, 'a timer fired during the run');
  t.notOk(settled, 'the run is still going');
  const early = machine.memory.read64(spins);
  await sleep(20);
  const later = machine.memory.read64(spins);
  t.ok(early > 0n && later > early, `the guest spins meanwhile (${early} then ${later})`);
  t.ok(machine.vcpu.threadId > 0 && machine.vcpu.threadId !== process.pid, 'on a thread of its own');

  const kickedAt = performance.now();
  machine.vcpu.kick();
  t.same(await run, { reason: 'kicked' });
  const latency = performance.now() - kickedAt;
  t.ok(latency < KICK_LATENCY_LIMIT_MS, `ended ${latency.toFixed(2)} ms after the kick`);

  t.same(await machine.vcpu.runAsync({ timeoutMs: 20 }), { reason: 'timeout' }, 'the vCPU runs again after a kick');
});

t.test('the event loop keeps turning through a long run', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'spin');
  let ticks = 0;
  const interval = setInterval(() => { ticks++; }, 5);
  const started = performance.now();
  const exit = await machine.vcpu.runAsync({ timeoutMs: 200 });
  const took = performance.now() - started;
  clearInterval(interval);
  t.same(exit, { reason: 'timeout' });
  t.ok(took >= 195, `the run lasted ${took.toFixed(1)} ms`);
  t.ok(ticks >= 10, `${ticks} interval ticks of 5 ms during it`);
});

t.test('one run at a time', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'spin');
  const run = machine.vcpu.runAsync();
  await sleep(5);
  await t.rejects(machine.vcpu.runAsync(), /busy: one run at a time/, 'a second async run');
  await t.rejects(machine.vcpu.runAsync(), { code: 'ERR_KVM_BUSY' }, 'with the same code as a sync run\'s');
  await t.rejects(machine.vcpu.yieldUntilRunDelay(1, 10), { code: 'ERR_KVM_BUSY' }, 'a yield meanwhile');
  t.throws(() => machine.vcpu.runSync(), { code: 'ERR_KVM_BUSY' }, 'a sync run meanwhile');
  machine.vcpu.kick();
  t.same(await run, { reason: 'kicked' });
});

t.test('a kick while idle does not end the next run', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'spin');
  machine.vcpu.kick();
  t.same(await machine.vcpu.runAsync({ timeoutMs: 30 }), { reason: 'timeout' });
  t.same(machine.vcpu.runSync({ timeoutMs: 10 }), { reason: 'timeout' });
});

t.test('async and sync runs take turns through a guest\'s ucalls', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'sync');
  t.same(await machine.runUntilUcallAsync({ timeoutMs: 5000 }), { cmd: 'sync', args: [1n] });
  t.same(machine.runUntilUcall({ timeoutMs: 5000 }), { cmd: 'sync', args: [2n, 0x1122334455667788n, 0xffffffffffffffffn] });
  t.same(await machine.runUntilUcallAsync({ timeoutMs: 5000 }), { cmd: 'done' });
});

t.test('closing a vCPU during an async run ends the run and its thread', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'spin');
  const run = machine.vcpu.runAsync();
  await sleep(10);
  const thread = `/proc/self/task/${machine.vcpu.threadId}`;
  t.ok(fs.existsSync(thread), 'the vCPU thread exists');
  machine.vcpu.close();
  t.notOk(fs.existsSync(thread), 'close() ended it');
  t.same(await run, { reason: 'kicked' }, 'the pending run settles');
  await t.rejects(machine.vcpu.runAsync(), { code: 'ERR_KVM_CLOSED' }, 'later runs reject');
});

t.test('close() settles what it interrupts: a job submitted just before it, a yield in progress', async (t) => {
  const kvm = kvmOrSkip(t);
  if (!kvm) return;
  const machine = basicsMachine(t, kvm, 'spin');
  // Start the vCPU thread, then let it fall asleep waiting for its next job.
  t.same(await machine.vcpu.runAsync({ timeoutMs: 1 }), { reason: 'timeout' });
  await sleep(20);
  const submitted = machine.vcpu.yieldUntilRunDelay(1e12, 5000);
  machine.vcpu.close();
  await t.rejects(submitted, { name: 'KvmError', code: 'EINTR' }, 'the job queued right before close() settles');

  const second = basicsMachine(t, kvm, 'spin');
  t.same(await second.vcpu.runAsync({ timeoutMs: 1 }), { reason: 'timeout' });
  const yielding = second.vcpu.yieldUntilRunDelay(1e12, 5000);
  await sleep(20);
  const closing = performance.now();
  second.vcpu.close();
  const took = performance.now() - closing;
  t.ok(took < 1000, `close() during a yield took ${took.toFixed(1)} ms, not the yield's 5 s timeout`);
  await t.rejects(yielding, { code: 'EINTR' }, 'the yield settles');
});
