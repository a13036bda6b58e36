// After the stages (upstream's `done:` label, tools/testing/selftests/kvm/x86_64/xen_shinfo_test.c:989-1160 in 6.12): reset the outbound ports, then check what KVM
// left in guest memory — wall clock, pvclocks — and write the runstate area at 64 positions across a
// page boundary in both ABI layouts.
import { clockFlags } from '../../lib/kvm/vm';
import { type RunstateData } from '../../lib/xen/attributes';
import { PvclockView, RunstateView } from '../../lib/xen/views';
import type { Tap } from '../lib/ksft';
import { TestFailure, testAssert } from '../lib/ksft';
import { finalCheckNames, PAGE_SIZE, PVTIME_ADDR, SHINFO_REGION_GPA } from './constants';
import type { ShinfoTest } from './setup';

const NSEC_PER_SEC = 1000000000n;
/** The test's runstate struct has time[5]: 56 bytes, the last word an overrun canary. */
const RUNSTATE_TEST_SIZE = 56;
const CANARY = 0xa5a5a5a5a5a5a5a5n;

/**
 * Runs one final check as its own KTAP line: the body returns a skip reason, or nothing when it passed.
 * A failed assertion is reported on the check's line and ends the test, as TEST_ASSERT ends upstream's.
 */
function check(tap: Tap, name: string, body: () => string | void): void {
  let skipped: string | void;
  try {
    skipped = body();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    tap.fail(name, [message]);
    throw new TestFailure(`${name} failed: ${message}`);
  }
  if (typeof skipped === 'string') tap.skip(name, skipped);
  else tap.pass(name);
}

export function finalChecks(t: ShinfoTest, tap: Tap): void {
  const [resetName, clockName, runstateName] = finalCheckNames;

  check(tap, resetName, () => {
    t.xen.resetEvtchns();
    t.watchdog.alarm(0);
  });

  check(tap, clockName, () => {
    const wc = t.shinfo.wallClock;
    const ti = new PvclockView(t.vm.memory, SHINFO_REGION_GPA + 0x40 + 0x20).read();
    const ti2 = new PvclockView(t.vm.memory, PVTIME_ADDR).read();
    if (t.verbose) {
      t.log(`Wall clock (v ${wc.version}) ${wc.sec}.${String(wc.nsec).padStart(9, '0')}`);
      for (const [label, info] of [['Time info 1', ti], ['Time info 2', ti2]] as const) {
        t.log(`${label}: v ${info.version} tsc ${info.tscTimestamp} time ${info.systemTime} mul ${info.tscToSystemMul} shift ${info.tscShift} flags ${info.flags.toString(16)}`);
      }
    }
    testAssert(wc.version !== 0 && (wc.version & 1) === 0, `Bad wallclock version ${wc.version.toString(16)}`);

    const clock = t.vm.getClock();
    if (clock.flags & clockFlags.REALTIME) {
      const epoch = clock.realtime - clock.clock;
      const delta = BigInt(wc.sec) * NSEC_PER_SEC + BigInt(wc.nsec) - epoch;
      const magnitude = delta < 0n ? -delta : delta;
      testAssert(magnitude < NSEC_PER_SEC,
        `Guest's epoch from shinfo ${wc.sec}.${String(wc.nsec).padStart(9, '0')} differs from KVM_GET_CLOCK ${epoch / NSEC_PER_SEC}.${epoch % NSEC_PER_SEC}`);
    } else {
      t.log('Missing KVM_CLOCK_REALTIME, skipping shinfo epoch sanity check');
    }

    testAssert(ti.version !== 0 && (ti.version & 1) === 0, `Bad time_info version ${ti.version.toString(16)}`);
    testAssert(ti2.version !== 0 && (ti2.version & 1) === 0, `Bad time_info version ${ti.version.toString(16)}`);
  });

  check(tap, runstateName, () => {
    if (!t.features.doRunstateTests) return 'KVM_CAP_XEN_HVM lacks KVM_XEN_HVM_CONFIG_RUNSTATE';
    sweepRunstate(t);
    return undefined;
  });
}

/**
 * The vCPU no longer runs, so RUNSTATE_DATA is the final truth; every placement of the area around the
 * page-1/page-2 boundary must receive exactly it, without writing past its end, first in compat mode
 * and then, at the same address, in 64-bit mode (which moves part of it onto the second page).
 */
function sweepRunstate(t: ShinfoTest): void {
  const rst = t.xenVcpu.get('RUNSTATE_DATA');
  if (t.verbose) {
    t.log(`Runstate: ${t.rs.state}, entry ${t.rs.stateEntryTime} ns`);
    ['running', 'runnable', 'blocked', 'offline'].forEach((name, i) => t.log(`State ${name}: ${t.rs.time(i)} ns`));
  }
  const boundary = SHINFO_REGION_GPA + 2 * PAGE_SIZE;
  for (let address = boundary - RUNSTATE_TEST_SIZE - 4; address < boundary + 4; address++) {
    const area = t.vm.memory.bytes(address, RUNSTATE_TEST_SIZE);

    area.fill(0xa5);
    t.xen.set('LONG_MODE', false);
    t.xenVcpu.set('RUNSTATE_ADDR', BigInt(address));
    if (t.verbose) t.log(`Compatibility runstate at ${address.toString(16).padStart(8, '0')}`);
    expectRunstate(new RunstateView(t.vm.memory, address, 'compat'), rst);

    t.xen.set('LONG_MODE', true);
    area.fill(0xa5);
    // Same address; RUNSTATE_ADJUST with no change just makes KVM write the area again.
    t.xenVcpu.set('RUNSTATE_ADJUST', { state: -1 });
    if (t.verbose) t.log(`64-bit runstate at ${address.toString(16).padStart(8, '0')}`);
    expectRunstate(new RunstateView(t.vm.memory, address, 'long'), rst);
  }
}

function expectRunstate(rs: RunstateView, rst: RunstateData): void {
  testAssert(rs.state === rst.state, 'Runstate mismatch');
  testAssert(rs.stateEntryTime === rst.stateEntryTime, 'State entry time mismatch');
  testAssert(rs.time(0) === rst.timeRunning, 'Running time mismatch');
  testAssert(rs.time(1) === rst.timeRunnable, 'Runnable time mismatch');
  testAssert(rs.time(2) === rst.timeBlocked, 'Blocked time mismatch');
  testAssert(rs.time(3) === rst.timeOffline, 'Offline time mismatch');
  testAssert(rs.time(4) === CANARY, 'Structure overrun');
  testAssert(rs.timesAddUp(), "runstate times don't add up");
}
