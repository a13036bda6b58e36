#!/usr/bin/env node
// xen_poll_test: new. SCHEDOP_poll, which KVM handles in the kernel, must honour its timeout: a poll of
// a quiet port blocks the vCPU until the timeout passes, a poll of a pending port returns at once.
// xen_shinfo_test polls too (TEST_POLL_*) but never times a poll, so a KVM whose poll returned at once
// passes it — test/kernel-faults.test.ts shows that with an injected fault; this test fails there.
import { GuestMachine, PAGE_SIZE } from '../lib/guest';
import { SharedInfoView, XenVm } from '../lib/xen';
import { openKvmOrSkip } from './lib/kvm-device';
import { selftestMain, type Tap, TestFailure } from './lib/ksft';
import { configureEventChannels, requireEventChannels, SHINFO_GPA, SHINFO_SLOT } from './evtchn/guest-vm';

const POLL_PORT = 5;
const QUIET_TIMEOUT_MS = 100;
const PENDING_TIMEOUT_MS = 5000;
/**
 * KVM arms the poll's timer in jiffies (jiffies + nsecs_to_jiffies(timeout), rounded down), so it may
 * fire up to two ticks early at HZ=250; 90 ms of a 100 ms timeout is inside that.
 */
const QUIET_MIN_MS = 90;
/** A pending port must not wait: anything near the 5 s timeout means KVM blocked. */
const PENDING_MAX_MS = 1000;
/** Per KVM_RUN: past this the poll is taken to hang. */
const RUN_LIMIT_MS = 10000;

const SYNC_QUIET_POLL = 1n, SYNC_PENDING_POLL = 2n, SYNC_POLLED = 3n;

/** Runs the guest to its next sync, which must be `expected`; returns how long that took. */
function runToSync(machine: GuestMachine, expected: bigint): number {
  const started = performance.now();
  const ucall = machine.runUntilUcall({ timeoutMs: RUN_LIMIT_MS });
  const elapsed = performance.now() - started;
  if (ucall.cmd !== 'sync' || ucall.args[0] !== expected) {
    throw new TestFailure(`expected the guest's sync ${expected}, got ${ucall.cmd} ${ucall.cmd === 'sync' ? ucall.args[0] : ''}`);
  }
  return elapsed;
}

/** One KTAP line, with the measured time as a diagnostic right before it either way; a failure ends the test. */
function check(tap: Tap, name: string, ok: boolean, measured: string): void {
  if (!ok) {
    tap.fail(name, [measured]);
    throw new TestFailure(`${name} failed: ${measured}`);
  }
  tap.diag(measured);
  tap.pass(name);
}

export async function xenPollTest(tap: Tap): Promise<void> {
  const kvm = openKvmOrSkip();
  try {
    requireEventChannels(kvm);
    const machine = GuestMachine.create(kvm, { program: 'xen_poll_test' });
    try {
      machine.vm.addMemory({ slot: SHINFO_SLOT, guestAddress: SHINFO_GPA, size: PAGE_SIZE });
      // The poll reads shared_info's bitmaps; no vcpu_info or upcall vector: no upcall is involved.
      configureEventChannels(new XenVm(machine.vm));
      const shinfo = new SharedInfoView(machine.vm.memory, SHINFO_GPA);
      machine.memory.write32(machine.symbol('poll_port'), POLL_PORT);
      machine.memory.write64(machine.symbol('quiet_timeout_ns'), BigInt(QUIET_TIMEOUT_MS) * 1000000n);
      machine.memory.write64(machine.symbol('pending_timeout_ns'), BigInt(PENDING_TIMEOUT_MS) * 1000000n);
      tap.plan(2);

      runToSync(machine, SYNC_QUIET_POLL);
      const quietMs = runToSync(machine, SYNC_POLLED);
      check(tap, `SCHEDOP_poll of quiet port ${POLL_PORT} blocks until its ${QUIET_TIMEOUT_MS} ms timeout`, quietMs >= QUIET_MIN_MS,
        `the poll took ${quietMs.toFixed(1)} ms (at least ${QUIET_MIN_MS} ms expected)`);

      runToSync(machine, SYNC_PENDING_POLL);
      // Masked too, so that no upcall is involved: the poll looks at the pending bit only.
      shinfo.setPending(POLL_PORT, true);
      shinfo.setMasked(POLL_PORT, true);
      const pendingMs = runToSync(machine, SYNC_POLLED);
      check(tap, `SCHEDOP_poll of pending port ${POLL_PORT} returns at once despite its ${PENDING_TIMEOUT_MS} ms timeout`, pendingMs < PENDING_MAX_MS,
        `the poll took ${pendingMs.toFixed(1)} ms (under ${PENDING_MAX_MS} ms expected)`);
    } finally {
      machine.close();
    }
  } finally {
    kvm.close();
  }
}

if (require.main === module) selftestMain((tap) => xenPollTest(tap));
