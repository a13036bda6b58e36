// The int3-flake retry, without waiting for the flake: KVM_XEN_QEMU points the runner at a stand-in
// QEMU that plays a guest hitting "Oops: int3" (after some output) and, on the next boot, a guest that
// finishes with status 7. It reads the run's nonce from the per-run initramfs exactly as the real init
// would, so the runner's own code paths (end marker, classification, retry) are the ones under test.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import t from 'tap';

import { runInVm, vmExitStatus } from '../lib/vm';

const fakeQemu = String.raw`#!/usr/bin/env node
const fs = require('fs');
const args = process.argv.slice(2);
const initrd = fs.readFileSync(args[args.indexOf('-initrd') + 1]);
// The nonce file in the per-run newc archive: 110-byte header, name, padding to 4, data.
const name = initrd.lastIndexOf('run/kvm-xen/nonce\0');
const header = name - 110;
const size = parseInt(initrd.toString('latin1', header + 54, header + 62), 16);
const dataAt = Math.ceil((name + 18) / 4) * 4;
const nonce = initrd.toString('latin1', dataAt, dataAt + size);
const fifo = (id) => args.find((arg) => arg.startsWith('file,id=' + id + ',')).split('path=')[1];
const stateFile = process.env.FAKE_QEMU_STATE;
const boot = Number(fs.existsSync(stateFile) ? fs.readFileSync(stateFile, 'utf8') : 0) + 1;
fs.writeFileSync(stateFile, String(boot));
const flaky = Number(process.env.FAKE_QEMU_FLAKY_BOOTS);
const out = fs.openSync(fifo('stdout'), 'w');
const err = fs.openSync(fifo('stderr'), 'w');
process.stdout.write(nonce + ' KVMXEN-START\n');
if (boot <= flaky) {
  fs.writeSync(out, 'output of boot ' + boot + '\n');
  process.stdout.write('[    9.1] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI\n[    9.2] Kernel panic - not syncing: Fatal exception\n');
  process.exit(0);
}
fs.writeSync(out, 'output of boot ' + boot + '\nKVMXEN-END-' + nonce + ':7\n');
fs.writeSync(err, 'KVMXEN-END-' + nonce + ':7\n');
setTimeout(() => {}, 60000);  // a guest after its command: the runner stops it
`;

interface Scenario {
  flakyBoots: number;
  accel?: 'kvm' | 'tcg';
  retryOnFlake?: boolean;
}

async function runScenario(t: tap.Test, scenario: Scenario): Promise<{ result: Awaited<ReturnType<typeof runInVm>>; output: string; retries: number; boots: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-xen-fake-qemu-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const program = path.join(dir, 'qemu');
  fs.writeFileSync(program, fakeQemu, { mode: 0o755 });
  const saved = { ...process.env };
  Object.assign(process.env, { KVM_XEN_QEMU: program, FAKE_QEMU_STATE: path.join(dir, 'boots'), FAKE_QEMU_FLAKY_BOOTS: String(scenario.flakyBoots) });
  t.teardown(() => {
    for (const key of ['KVM_XEN_QEMU', 'FAKE_QEMU_STATE', 'FAKE_QEMU_FLAKY_BOOTS']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  });
  let output = '';
  let retries = 0;
  const result = await runInVm({
    command: ['true'],
    accel: scenario.accel ?? 'tcg',
    snapshot: false,  // the stand-in plays a boot; it has no monitor or control port for a warm start
    timeoutMs: 60_000,
    output: { write: (chunk) => { output += chunk.toString(); } },
    errorOutput: { write: () => undefined },
    onRetry: () => { retries++; output = ''; },
    ...(scenario.retryOnFlake === undefined ? {} : { retryOnFlake: scenario.retryOnFlake }),
  });
  return { result, output, retries, boots: Number(fs.readFileSync(path.join(dir, 'boots'), 'utf8')) };
}

t.test('an int3 oops is retried once in a fresh VM; the retry\'s status and output count', async (t) => {
  const { result, output, retries, boots } = await runScenario(t, { flakyBoots: 1 });
  t.equal(result.status, 7, result.message);
  t.equal(result.outcome, 'exited');
  t.equal(result.attempts, 2);
  t.equal(boots, 2);
  t.equal(retries, 1, 'the caller was told to drop the first attempt\'s output');
  t.equal(output, 'output of boot 2\n');
  t.match(result.retriedAfter, /Oops: int3.*TCG flake/, 'the result says it was retried, and why');
});

t.test('under --accel kvm an int3 oops is the kernel\'s failure (70), never retried', async (t) => {
  const { result, retries, boots } = await runScenario(t, { flakyBoots: 1, accel: 'kvm' });
  t.equal(result.status, vmExitStatus.guestPanic, result.message);
  t.match(result.message, /crashed while the command ran: Oops: int3/);
  t.equal(boots, 1, 'one boot');
  t.equal(retries, 0);
  t.equal(result.retriedAfter, undefined);
});

t.test('an int3 oops twice in a row is an infrastructure failure (75), not a test result', async (t) => {
  const { result, boots } = await runScenario(t, { flakyBoots: 2 });
  t.equal(result.status, vmExitStatus.flake);
  t.equal(result.outcome, 'flake');
  t.match(result.message, /Oops: int3.*again, after a retry/);
  t.equal(boots, 2, 'never a third boot');
});

t.test('retryOnFlake: false reports the flake at once', async (t) => {
  const { result, boots, retries } = await runScenario(t, { flakyBoots: 1, retryOnFlake: false });
  t.equal(result.status, vmExitStatus.flake);
  t.equal(boots, 1);
  t.equal(retries, 0);
});
