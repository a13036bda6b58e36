// `npm run bench`: every benchmark in one command, one table of figures and ratios, with the date and
// the machine. Each benchmark measures its baseline in the same run (C host, the kernel's C test, the
// bare QEMU recipe), so the ratios hold on a busy machine too.
import os from 'node:os';

import { resolveAccel } from '../lib/vm/qemu';
import { benchExits, exitGoals } from './exits';
import { benchShinfo } from './shinfo';
import { benchVmBoot } from './vm-boot';
import { benchVmmBoot } from './vmm-boot';

interface Row {
  benchmark: string;
  result: string;
  ratio: string;
  goal: string;
}

function table(rows: readonly Row[]): string {
  const headers: Row = { benchmark: 'benchmark', result: 'result', ratio: 'ratio', goal: 'goal' };
  const keys = Object.keys(headers) as Array<keyof Row>;
  const widths = keys.map((key) => Math.max(...[headers, ...rows].map((row) => row[key].length)));
  const line = (row: Row): string => `| ${keys.map((key, i) => row[key].padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

const perSecond = (n: number): string => `${Math.round(n).toLocaleString('en-US')} exits/s`;
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const started = new Date();
  process.stderr.write('bench: exits (C host, runSync, runAsync)...\n');
  const exits = await benchExits();
  process.stderr.write('bench: xen_shinfo_test, port vs C, in the VM...\n');
  const shinfo = await benchShinfo();
  process.stderr.write('bench: VM boot, runner vs bare QEMU...\n');
  const boot = await benchVmBoot();
  process.stderr.write('bench: Linux boot, lib/vmm vs QEMU -accel kvm, in the VM...\n');
  const vmm = await benchVmmBoot();

  const rows: Row[] = [
    { benchmark: `PIO exits (${exits.iterations.toLocaleString('en-US')}), C host`, result: perSecond(exits.c), ratio: '1.00x', goal: 'baseline' },
    { benchmark: 'PIO exits, library runSync()', result: perSecond(exits.sync), ratio: `${exits.ratio.sync.toFixed(2)}x of C`, goal: `>= ${exitGoals.sync}x` },
    { benchmark: 'PIO exits, library runAsync()', result: perSecond(exits.async), ratio: `${exits.ratio.async.toFixed(2)}x of C`, goal: `>= ${exitGoals.async}x` },
    { benchmark: 'xen_shinfo_test, kernel\'s C test', result: seconds(shinfo.cMs), ratio: '1.00x', goal: 'baseline' },
    { benchmark: 'xen_shinfo_test, port (test itself)', result: seconds(shinfo.portTestMs), ratio: `${shinfo.ratio.toFixed(2)}x of C`, goal: '<= 1.25x' },
    { benchmark: 'xen_shinfo_test, port (with Node start)', result: seconds(shinfo.portWallMs), ratio: `${(shinfo.portWallMs / shinfo.cMs).toFixed(2)}x of C`, goal: '-' },
    { benchmark: 'VM boot, bare QEMU recipe', result: seconds(boot.bareMs), ratio: '1.00x', goal: 'baseline' },
    { benchmark: 'VM boot, kvm-xen vm -- true (warm)', result: seconds(boot.runnerWarmMs), ratio: `${boot.ratio.toFixed(2)}x of bare`, goal: '<= 1.2x' },
    { benchmark: 'VM boot, kvm-xen vm -- true (cold cache)', result: seconds(boot.runnerColdMs), ratio: '-', goal: '-' },
    { benchmark: 'Linux boot in the VM, QEMU -accel kvm', result: seconds(vmm.qemuMs), ratio: '1.00x', goal: 'baseline' },
    { benchmark: 'Linux boot in the VM, lib/vmm', result: seconds(vmm.vmmMs), ratio: `${vmm.ratio.toFixed(2)}x of QEMU`, goal: '<= 1.0x' },
  ];
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(`${table(rows)}\n\n${started.toISOString().slice(0, 10)}, ${os.cpus().length} x ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}; Xen figures in QEMU (${resolveAccel('auto').toUpperCase()}) with ${shinfo.kernel}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`bench: ${error.message}\n`);
  process.exitCode = 1;
});
