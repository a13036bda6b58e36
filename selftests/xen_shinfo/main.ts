// xen_shinfo_test itself (the program is ../xen_shinfo_test.ts, which starts it): the TypeScript port of
// the kernel's tools/testing/selftests/kvm/x86/xen_shinfo_test.c (6.12).
import { openKvmOrSkip } from '../lib/kvm-device';
import { selftestMain, type Tap } from '../lib/ksft';
import { finalCheckNames, stageNames } from './constants';
import { finalChecks } from './final-checks';
import { runStages, stageLabel } from './run';
import { setUp, type ShinfoTest } from './setup';
import { guestPutCounts } from '../../lib/guest/forced-emulation';

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

/** The program's main: flags, KTAP, exit code (xen_shinfo_test.ts starts it). */
export function main(): void {
  selftestMain((tap, args) => xenShinfoTest(tap, args.verbose));
}
