// The leak test's child process: create/close cycles of everything the library opens (/dev/kvm, VMs,
// memory slots, vCPUs and their kvm_run pages, eventfds, irqfds, and objects dropped without close()),
// with a guest run to its end every tenth cycle (alternately on the caller's thread and on the vCPU's
// own thread, which must end with it), and the process's fds, mappings, threads and RSS counted before
// and after. The parent (leaks.test.ts) starts it with V8 and glibc set up so that their own
// housekeeping does not move the counts.
//
// usage: node child.js <cycles> [--leak-every N]   (the leak option keeps a VM with a memory slot and a
// vCPU open every N cycles: the parent's proof that a leak shows)
// Prints one JSON line: { before, after, cycles, kinds, guestRuns, ms }.
import fs from 'node:fs';
import v8 from 'node:v8';

import { GuestMachine } from '../../lib/guest';
import { EventFd, Kvm, type Vm } from '../../lib/kvm';

export interface ProcessCounts {
  fds: number;
  mapsLines: number;
  tasks: number;
  /** Mappings of vCPU fds (kvm_run pages) still in /proc/self/maps. */
  vcpuMappings: number;
  /** V8's own heap, whose pages are mappings too. */
  v8HeapBytes: number;
  vmSizeKb: number;
  rssKb: number;
}

export interface LeakReport {
  before: ProcessCounts;
  after: ProcessCounts;
  cycles: number;
  kinds: Record<CycleKind, number>;
  /** Guests run to GUEST_DONE, on top of the cycles. */
  guestRuns: Record<RunKind, number>;
  ms: number;
}

type CycleKind = 'plain' | 'irqfd' | 'dropped';
type RunKind = 'sync' | 'async';

const SLOT_SIZE = 2 << 20;
const GSI = 5;

function countNow(): ProcessCounts {
  const maps = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((line) => line.length > 0);
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? -1);
  return {
    fds: fs.readdirSync('/proc/self/fd').length,
    mapsLines: maps.length,
    tasks: fs.readdirSync('/proc/self/task').length,
    vcpuMappings: maps.filter((line) => line.includes('kvm-vcpu')).length,
    v8HeapBytes: v8.getHeapStatistics().total_heap_size,
    vmSizeKb: kb('VmSize'),
    rssKb: kb('VmRSS'),
  };
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Collects garbage until finalizers (and the event-loop turns they schedule) have run. */
async function settle(): Promise<void> {
  for (let round = 0; round < 4; round++) {
    gc?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A VM with memory and a vCPU, used a little, closed in the documented order. */
function plainCycle(): void {
  const kvm = Kvm.open();
  const vm = kvm.createVm();
  vm.addMemory({ slot: 0, guestAddress: 0, size: SLOT_SIZE });
  const vcpu = vm.createVcpu(0);
  vcpu.getRegs();
  const eventFd = EventFd.create();
  eventFd.write(1n);
  eventFd.close();
  vm.close();
  kvm.close();
}

/** The in-kernel irqchip, a GSI route and an irqfd bound to an eventfd (KVM holds the eventfd meanwhile). */
function irqfdCycle(): void {
  const kvm = Kvm.open();
  const vm = kvm.createVm();
  vm.createIrqchip();
  vm.createVcpu(0);
  const eventFd = EventFd.create();
  vm.setGsiRouting([{ gsi: GSI, type: 'msi', address: 0xfee00000n, data: 0x40 }]);
  vm.assignIrqfd(eventFd, GSI);
  eventFd.write(1n);
  // Closed while still assigned: KVM drops the irqfd with the VM.
  eventFd.close();
  vm.close();
  kvm.close();
}

/** A guest run to its end, on the caller's thread or (async) on the vCPU's own thread, which must end. */
async function guestRun(kind: RunKind): Promise<void> {
  const kvm = Kvm.open();
  const machine = GuestMachine.create(kvm, { program: 'basics' });
  machine.memory.write64(machine.symbol('scenario'), 1n);
  const next = () => (kind === 'async' ? machine.runUntilUcallAsync() : Promise.resolve(machine.runUntilUcall()));
  for (let ucall = await next(); ucall.cmd !== 'done';) ucall = await next();
  // Closed in the other order: /dev/kvm first, the VM after.
  kvm.close();
  machine.close();
}

/** Objects dropped without close(): the finalizers are the backstop. */
function droppedCycle(): void {
  const vm = Kvm.open().createVm();
  vm.addMemory({ slot: 0, guestAddress: 0, size: SLOT_SIZE });
  vm.createVcpu(0).getRegs();
  EventFd.create();
}

/**
 * Sends some 60 MB of small objects through V8's young generation, so that all of its fixed 32 MB of
 * semi-space pages have been touched before the counts are taken: otherwise the first few hundred
 * cycles "grow" RSS by the pages V8 touches for the first time, which says nothing about the library.
 */
function touchYoungGeneration(): void {
  let length = 0;
  for (let i = 0; i < 2_000_000; i++) length += [i, i].length;
  if (length !== 4_000_000) throw new Error('unreachable: the churn loop miscounted');
}

/** What --leak-every keeps open: a VM with a memory slot and a vCPU. */
function leakedVm(): Vm {
  const kvm = Kvm.open();
  const vm = kvm.createVm();
  kvm.close();
  vm.addMemory({ slot: 0, guestAddress: 0, size: SLOT_SIZE });
  vm.createVcpu(0);
  return vm;
}

async function main(): Promise<void> {
  const cycles = Number(process.argv[2] ?? 1000);
  const leakAt = process.argv.indexOf('--leak-every');
  const leakEvery = leakAt > 0 ? Number(process.argv[leakAt + 1]) : 0;
  const kinds: Record<CycleKind, number> = { plain: 0, irqfd: 0, dropped: 0 };
  const guestRuns: Record<RunKind, number> = { sync: 0, async: 0 };
  const leaked: Vm[] = [];
  const run = async (i: number): Promise<void> => {
    const kind: CycleKind = i % 50 === 25 ? 'dropped' : i % 5 === 0 ? 'irqfd' : 'plain';
    kinds[kind]++;
    if (kind === 'dropped') droppedCycle();
    else if (kind === 'irqfd') irqfdCycle();
    else plainCycle();
    if (i % 10 === 0) {
      const runKind: RunKind = i % 20 === 0 ? 'async' : 'sync';
      guestRuns[runKind]++;
      await guestRun(runKind);
    }
    if (leakEvery > 0 && i % leakEvery === 0) leaked.push(leakedVm());
  };

  // Warm-up: lazy loading, the kick signal's handler, glibc's cached thread stack, V8's compiled code.
  for (let i = 0; i < 30; i++) await run(i);
  leaked.splice(0).forEach((vm) => vm.close());
  touchYoungGeneration();
  Object.keys(kinds).forEach((kind) => { kinds[kind as CycleKind] = 0; });
  Object.keys(guestRuns).forEach((kind) => { guestRuns[kind as RunKind] = 0; });
  await settle();

  const before = countNow();
  const started = performance.now();
  for (let i = 0; i < cycles; i++) {
    await run(i);
    if (i % 100 === 99) gc?.();
  }
  await settle();
  const after = countNow();
  const report: LeakReport = { before, after, cycles, kinds, guestRuns, ms: Math.round(performance.now() - started) };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
