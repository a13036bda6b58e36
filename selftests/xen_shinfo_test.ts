#!/usr/bin/env node
// xen_shinfo_test: the TypeScript port of the kernel's tools/testing/selftests/kvm/x86/xen_shinfo_test.c
// (6.12). Runs as a kselftest-style program: KTAP v1 on stdout, exit 0 pass / 1 fail / 4 skip.
//
//   node dist/selftests/xen_shinfo_test.js [-v|--verbose]
import { openKvmOrSkip } from './lib/kvm-device';
import { selftestMain, type Tap } from './lib/ksft';
import { finalCheckNames, stageNames } from './xen_shinfo/constants';
import { finalChecks } from './xen_shinfo/final-checks';
import { runStages, stageLabel } from './xen_shinfo/run';
import { setUp, type ShinfoTest } from './xen_shinfo/setup';
import { guestPutCounts } from '../lib/guest';

/** What the upcall handler's stores did (upstream's vcpu_arch_put_guest), for the run's record and the tests. */
function forcedEmulationNote(test: ShinfoTest): string {
  const { stores, emulated } = guestPutCounts(test.machine);
  const { enabled, seed } = test.forcedEmulation;
  return `forced emulation ${enabled ? 'on' : 'off'} (kvm.force_emulation_prefix), seed 0x${seed.toString(16)}: ${emulated} of ${stores} vcpu_info stores by the upcall handler went through KVM's emulator`;
}

export async function xenShinfoTest(tap: Tap, verbose: boolean): Promise<void> {
  const started = process.hrtime.bigint();
  const kvm = openKvmOrSkip();
  try {
    const test = setUp(kvm, verbose, (message) => { if (verbose) tap.diag(message); });
    try {
      tap.plan([...stageNames.map((_, stage) => stageLabel(stage)), ...finalCheckNames]);
      try {
        await runStages(test, tap);
        finalChecks(test, tap);
      } finally {
        // Also after a failure: whether the failing run had stores emulated is part of its record.
        tap.diag(forcedEmulationNote(test));
      }
      // For bench/shinfo.ts: the test itself, without Node's start-up.
      tap.diag(`test time: ${Number(process.hrtime.bigint() - started) / 1e6} ms`);
    } finally {
      test.close();
    }
  } finally {
    kvm.close();
  }
}

if (require.main === module) selftestMain((tap, args) => xenShinfoTest(tap, args.verbose));
