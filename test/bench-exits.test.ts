// The exit benchmark (bench/exits.ts) stays runnable: a short round of each host on the guest loop,
// every exit counted (the benchmark itself throws on a miscount), the table printed.
import t from 'tap';

import { benchExits, formatExitBench } from '../bench/exits';
import { kvmOrSkip } from './helpers/kvm';

t.test('C, sync and async hosts each run the PIO loop to its end', async (t) => {
  if (!kvmOrSkip(t)) return;
  const bench = await benchExits(1, 2000);
  t.same([bench.samples.c.length, bench.samples.sync.length, bench.samples.async.length], [1, 1, 1], 'one round each');
  t.ok(bench.c > 0 && bench.sync > 0 && bench.async > 0, `exits/s: C ${Math.round(bench.c)}, sync ${Math.round(bench.sync)}, async ${Math.round(bench.async)}`);
  const table = formatExitBench(bench);
  t.match(table, /C \(bench\/pio_host\.c\) +[\d,]+ +1\.00x/);
  t.match(table, /vcpu\.runSync\(\) +[\d,]+ +\d\.\d\dx +goal >= 0\.90x: (met|MISSED)/);
  t.match(table, /vcpu\.runAsync\(\) +[\d,]+ +\d\.\d\dx +goal >= 0\.75x: (met|MISSED)/);
});
