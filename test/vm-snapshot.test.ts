// Warm starts (`snapshot`, lib/vm/snapshot.ts), for real under TCG: the first run boots and saves the
// guest's state; later runs restore it. A kernel argument no other test uses gives this test states of
// its own, removed at the end. Checked: Debian's kernel warm-starts without asking, and `snapshot:
// false` boots with the state there; the command's status comes back either way; a restored guest
// has the host's clock (the state is kept waiting first, so a guest left on the saved clock would be
// behind), random numbers and a boot id of its own (without QEMU's VM generation id, a restored guest
// here drew the very bytes the saving guest had drawn after the save); a state QEMU cannot load is dropped and the guest
// booted afresh, saving a good one.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import t from 'tap';

import { cacheDir } from '../lib/cache';
import type { ProgressEvent } from '../lib/progress';
import { runInVm } from '../lib/vm';
import { SNAPSHOT_POINT } from '../lib/vm/guest-init';

const states = (): string[] => fs.readdirSync(cacheDir('snapshots')).filter((name) => name.endsWith('.state'));
const REPORT = 'date +%s; head -c 16 /dev/urandom | od -An -tx1 | tr -d " \\n"; echo; cat /proc/sys/kernel/random/boot_id';

t.test('a warm start saves the booted guest once, then restores it', async (t) => {
  const before = new Set(states());
  const append = `kvmxen.snapshot_test=${randomBytes(4).toString('hex')}`;
  t.teardown(() => { for (const name of states()) if (!before.has(name)) fs.rmSync(path.join(cacheDir('snapshots'), name), { force: true }); });

  // Debian's kernel with its own modules: a warm start without asking (run.ts warmStartByDefault).
  const run = async (command: string, snapshot?: boolean) => {
    let stdout = '';
    let console = '';
    const steps: string[] = [];
    const result = await runInVm({
      command: ['sh', '-c', command], accel: 'tcg', append, timeoutMs: 10 * 60 * 1000, ...(snapshot === undefined ? {} : { snapshot }),
      output: { write: (chunk) => { stdout += chunk.toString(); } },
      onConsole: (text) => { console += text; },
      onProgress: (event: ProgressEvent) => { if (event.kind === 'step') steps.push(event.text); },
    });
    return { result, stdout, booted: console.includes(SNAPSHOT_POINT), steps };
  };

  const first = await run('exit 3');
  t.equal(first.result.status, 3, `the first run's status comes back (${first.result.message})`);
  t.match(first.steps.join('\n'), /warm start: booting, then saving the guest in /, 'and it says it saves the guest');
  t.ok(first.booted, 'the first run booted, to the snapshot point');
  const saved = states().filter((name) => !before.has(name));
  t.equal(saved.length, 1, 'and saved one state');
  const file = path.join(cacheDir('snapshots'), saved[0] ?? 'none');

  await new Promise((resolve) => setTimeout(resolve, 5000));
  const restored = [];
  for (let i = 0; i < 2; i++) {
    const hostBefore = Math.floor(Date.now() / 1000);
    const again = await run(REPORT);
    const hostAfter = Math.ceil(Date.now() / 1000);
    t.equal(again.result.status, 0, `restored run ${i + 1}: status 0 (${again.result.message})`);
    t.notOk(again.booted, `restored run ${i + 1}: no boot (the console never reached the snapshot point)`);
    const [clock, random, bootId] = again.stdout.trim().split('\n');
    t.ok(Number(clock) >= hostBefore - 1 && Number(clock) <= hostAfter, `restored run ${i + 1}: the guest's clock ${clock} is the host's (${hostBefore}-${hostAfter})`);
    restored.push({ random, bootId });
  }
  t.not(restored[0]!.random, restored[1]!.random, 'two restored guests draw different random numbers');
  t.not(restored[0]!.bootId, restored[1]!.bootId, 'and have boot ids of their own');
  t.same(states().filter((name) => !before.has(name)), saved, 'the restores saved nothing new');
  const asked = await run('echo asked', true);
  t.equal(asked.stdout, 'asked\n', `snapshot: true restores too (${asked.result.message})`);
  t.notOk(asked.booted, 'without a boot');
  t.notMatch(asked.steps.join('\n'), /warm start/, 'and quietly (only a saving boot says so)');

  const usedBefore = fs.statSync(file).mtimeMs;
  const cold = await run('echo cold', false);
  t.equal(cold.stdout, 'cold\n', `snapshot: false runs the command (${cold.result.message})`);
  t.notMatch(cold.steps.join('\n'), /warm start/, 'after a boot: no warm start said');
  t.equal(fs.statSync(file).mtimeMs, usedBefore, 'and the saved state was not used');
  t.same(states().filter((name) => !before.has(name)), saved, 'nor another saved');

  fs.writeFileSync(file, Buffer.from('QEVM but not really a saved state'));
  const recovered = await run('echo fine');
  t.equal(recovered.result.status, 0, `a state QEMU cannot load: the run still succeeds (${recovered.result.message})`);
  t.equal(recovered.stdout, 'fine\n', 'with its output');
  t.match(recovered.steps.join('\n'), /the saved guest state did not start .*: booting afresh/, 'the caller is told the state was dropped');
  t.ok(recovered.booted, 'the guest was booted afresh');
  t.ok(fs.statSync(file).size > 1024 * 1024, 'and a good state saved in its place');
});
