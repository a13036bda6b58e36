// The host's loop of xen_shinfo_test: run the guest (on its own thread, so the watchdog can fire),
// answer each sync point with its stage handler, and report one KTAP line per stage.
import { dumpVcpu } from '../../lib/kvm/dump';
import { describeExit } from '../../lib/kvm/exits';
import { type Tap, TestFailure, testAssert } from '../lib/ksft';
import { Stage, stageNames, TEST_GUEST_SAW_IRQ } from './constants';
import type { ShinfoTest } from './setup';
import { stageHandlers } from './stages';

/**
 * Upstream disarms its alarm at TEST_LOCKING_SEND_RACE, so from there on a guest that stops exiting
 * hangs the C test for good. The port hung so, rarely (checks 1-24 passed, then nothing until the run's
 * limit): in the locking stages the guest syncs after every 100 polls and the timer fires within 2 s,
 * so a vCPU that has not exited for this long is stuck, and the run fails with what the host can see
 * instead of hanging.
 */
const LOCKING_STALL_MS = 20_000;

export function stageLabel(stage: number): string {
  return `stage ${stage} ${stageNames[stage] ?? 'unknown'}`;
}

/** Why a stage is skipped after upstream's `goto done` at `stage`: the capability it lacks. */
function skipReason(stage: number): string {
  if (stage <= Stage.TEST_RUNSTATE_offline) return 'KVM_CAP_XEN_HVM lacks KVM_XEN_HVM_CONFIG_RUNSTATE';
  if (stage <= Stage.TEST_EVTCHN_SLOWPATH) return 'KVM_CAP_XEN_HVM lacks KVM_XEN_HVM_CONFIG_EVTCHN_2LEVEL';
  return 'KVM_CAP_XEN_HVM lacks KVM_XEN_HVM_CONFIG_EVTCHN_SEND';
}

/** Tracks the stage in progress, so every failure names the stage it happened in. */
class StageReport {
  current = -1;
  private pollTimeouts = 0;

  constructor(private readonly tap: Tap) {}

  /**
   * The guest synced `stage`: the stage in progress has passed. Only upstream's optional sync point,
   * TEST_LOCKING_POLL_TIMEOUT, may be left out; a line for any other stage needs the guest to reach it.
   */
  begin(stage: number): void {
    if (stage === this.current) {
      this.pollTimeouts++;  // only TEST_LOCKING_POLL_TIMEOUT repeats
      return;
    }
    const expected = this.current + 1;
    const optionalSkipped = expected === Stage.TEST_LOCKING_POLL_TIMEOUT && stage === Stage.TEST_DONE;
    if (stage !== expected && !optionalSkipped) {
      throw new TestFailure(`the guest synced ${stageLabel(stage)} where ${stageLabel(expected)} was due`);
    }
    if (this.current >= 0) this.passCurrent();
    // TEST_LOCKING_POLL_TIMEOUT is optional: the guest skips it when no timer event was dropped.
    if (optionalSkipped) this.tap.pass(`${stageLabel(expected)} (optional sync point, not needed this run)`);
    this.current = stage;
  }

  passCurrent(): void {
    const note = this.current === Stage.TEST_LOCKING_POLL_TIMEOUT && this.pollTimeouts > 0 ? ` (timer re-armed ${this.pollTimeouts + 1} times)` : '';
    this.tap.pass(`${stageLabel(this.current)}${note}`);
  }

  /** Upstream's `goto done` at the current stage: it and the rest are skipped. */
  skipRest(): void {
    for (let stage = this.current; stage <= Stage.TEST_DONE; stage++) this.tap.skip(stageLabel(stage), skipReason(this.current));
  }

  fail(error: unknown): never {
    const details = error instanceof TestFailure ? [...error.details] : [];
    const message = error instanceof Error ? error.message : String(error);
    const stage = Math.max(this.current, 0);
    this.tap.fail(stageLabel(stage), [message.split('\n')[0]!, ...message.split('\n').slice(1), ...details]);
    // The stages after it, and the final checks, never run: each is reported so, by name.
    this.tap.notRunRest(`not reached: ${stageLabel(stage)} failed`);
    throw new TestFailure(`${stageLabel(stage)} failed: ${message.split('\n')[0]}`);
  }
}

export async function runStages(t: ShinfoTest, tap: Tap): Promise<void> {
  const report = new StageReport(tap);
  try {
    await loop(t, report);
  } catch (error) {
    report.fail(error);
  }
}

/**
 * The vCPU runs on this thread, like the C test's: KVM takes the Xen steal-time baseline from the task
 * that writes a RUNSTATE attribute and charges that task's scheduler run delay up to the next KVM_RUN,
 * so any hand-off to another thread in between would show up as runnable time (and fail stage 5's
 * "time[RUNSTATE_runnable] == 0").
 */
async function loop(t: ShinfoTest, report: StageReport): Promise<void> {
  for (;;) {
    const watchdogMs = t.watchdog.remainingMs();
    const stallMs = watchdogMs === undefined && report.current >= Stage.TEST_LOCKING_SEND_RACE ? LOCKING_STALL_MS : undefined;
    const timeoutMs = watchdogMs ?? stallMs;
    const exit = t.vcpu.runSync(timeoutMs === undefined ? undefined : { timeoutMs });
    if (exit.reason === 'timeout') throw new TestFailure(watchdogMs !== undefined ? t.watchdog.fire() : stallReport(t, report.current));
    const ucall = t.machine.ucallOf(exit);
    // With what the host can see (a guest triple-faulted in stage 25 now and then under SIGPROF
    // sampling; README, Hardening). On AMD, KVM resets a vCPU after a shutdown (its VMCB is undefined
    // then), so what the registers show there is the reset state, and the dump says so.
    if (!ucall) {
      const registers = exit.reason === 'shutdown' ? ['(after a shutdown, AMD KVM has reset the vCPU: its registers below are not the faulting state)', ...dumpVcpu(t.vcpu)] : dumpVcpu(t.vcpu);
      throw new TestFailure(`Wanted KVM exit reason: 2 (KVM_EXIT_IO), got: ${describeExit(exit)}`, [...xenState(t), ...registers]);
    }
    if (ucall.cmd === 'print') continue;
    if (ucall.cmd === 'done') throw new TestFailure(`the guest finished before ${stageLabel(Stage.TEST_DONE)}`);
    if (ucall.cmd !== 'sync') throw new TestFailure(`Unknown ucall ${ucall.cmd}`);

    if (t.features.doRunstateTests) testAssert(t.rs.timesAddUp(), "runstate times don't add up");

    const stage = Number(ucall.args[0]);
    if (stage === TEST_GUEST_SAW_IRQ) {
      testAssert(t.evtchnIrqExpected, 'Unexpected event channel IRQ');
      t.evtchnIrqExpected = false;
      continue;
    }
    const handler = stageHandlers[stage];
    if (!handler) throw new TestFailure(`Unknown stage ${stage} from the guest`);
    if (handler.previousIrqSeen) testAssert(!t.evtchnIrqExpected, handler.previousIrqSeen);
    report.begin(stage);
    if ((await handler.run(t)) === 'done') {
      if (stage === Stage.TEST_DONE) report.passCurrent();
      else report.skipRest();
      return;
    }
  }
}

/** What the host can see of a guest stuck in the locking stages (no exit for LOCKING_STALL_MS). */
function stallReport(t: ShinfoTest, stage: number): string {
  return [
    `the guest made no exit for ${LOCKING_STALL_MS / 1000} s in ${stageLabel(stage)} (upstream has no watchdog here: the C test would hang)`,
    ...xenState(t),
    ...dumpVcpu(t.vcpu),
  ].join('\n');
}

/** The Xen state behind the stages' events, as of this instant (the juggler may still be moving shared_info). */
function xenState(t: ShinfoTest): string[] {
  try {
    const timer = t.xenVcpu.get('TIMER');
    const sharedInfo = t.xen.get('SHARED_INFO');
    return [
      `Xen timer expires_ns ${timer.expiresNs} (0: fired or unset), shared_info gfn 0x${sharedInfo.toString(16)}, ` +
        `evtchn_pending[0] 0x${t.shinfo.pendingWord(0).toString(16)}, evtchn_upcall_pending 0x${t.vinfo.upcallPending.toString(16)}, ` +
        `event channel IRQ expected: ${t.evtchnIrqExpected ? 'yes' : 'no'}`,
    ];
  } catch (error) {
    return [`Xen state unreadable (${(error as Error).message})`];
  }
}
