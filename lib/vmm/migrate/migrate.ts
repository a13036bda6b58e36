// Live migration of a running LinuxMachine into a fresh one in the same process: a new KVM VM with its
// own memory, irqchip, PIT and vCPUs (LinuxMachine.createLike), RAM pre-copied with dirty-page logging
// while the guest runs, then a short stop: the last dirty pages, every vCPU's state, the irqchip, PIT,
// kvmclock and the UART, a Xen guest's Xen state (the personality's and KVM's), and the guest goes on in
// the destination while the source is closed.
import { LinuxMachine, RAM_SLOT } from '../machine';
import { savePlatform, restorePlatform } from './platform-state';
import { Precopy, type PrecopyLimits, type PrecopyRound } from './precopy';
import { restoreVcpuState, saveVcpuState, type MsrGaps, type VcpuState } from './vcpu-state';

export interface MigrateOptions extends PrecopyLimits {
  /**
   * Runs on the running source once the pre-copy is done, right before it is paused for the
   * stop-and-copy: a VMM experiment's hook into the final copy (e.g. taking a Xen vCPU's vcpu_info away
   * as a VMM does while it copies it). If it throws, the migration is abandoned and the source goes on.
   */
  beforeFinalCopy?: (source: LinuxMachine) => void | Promise<void>;
}

export interface MigrationReport {
  /** Pre-copy rounds while the guest ran: the full copy first, then each dirty set. */
  rounds: PrecopyRound[];
  /** Pages copied with the guest paused. */
  finalPages: number;
  /** From pausing the source to resuming the destination. */
  downtimeMs: number;
  /** The parts of the downtime: stopping the vCPUs, copying the last pages and saving, restoring. */
  downtimeParts: { pauseMs: number; saveMs: number; restoreMs: number };
  /** From the call to the destination running and the source closed. */
  totalMs: number;
  /** MSRs in KVM's save list it would not read on the source, or not take on the destination. */
  msrGaps: MsrGaps;
}

export interface Migration {
  machine: LinuxMachine;
  report: MigrationReport;
}

/**
 * Moves the guest of a started machine into a new one and returns it running; the source ends with
 * { reason: 'migrated', to } and is closed. If anything fails before the destination runs, the
 * destination is closed and the source resumes (the error is rethrown).
 */
export async function migrate(source: LinuxMachine, options: MigrateOptions = {}): Promise<Migration> {
  if (!(source instanceof LinuxMachine)) throw new TypeError('source must be a LinuxMachine');
  if (source.ended) throw new Error('the source machine has ended');
  const started = performance.now();
  const destination = LinuxMachine.createLike(source);
  let paused: number | undefined;
  let precopy: Precopy | undefined;
  try {
    precopy = new Precopy(source.vm, destination.vm, RAM_SLOT);
    await precopy.run(options);
    if (source.ended) throw new Error('the source machine ended during the pre-copy');

    // KVM_GET_MSR_INDEX_LIST of the destination's /dev/kvm (the same module as the source's, here).
    const msrIndices = destination.msrIndexList();
    await options.beforeFinalCopy?.(source);
    if (source.ended) throw new Error('the source machine ended before the stop-and-copy');
    paused = performance.now();
    await source.pause();
    const savedAt = performance.now();
    if (source.ended) throw new Error('the source machine ended while it was paused');
    // KVM writes event channels into shared_info and vcpu_info without marking them in the dirty log.
    const finalPages = precopy.finish(source.xen?.unloggedPages() ?? []);
    const msrGaps: MsrGaps = { unreadable: [], refused: [] };
    const states: VcpuState[] = [];
    for (const vcpu of source.vcpus) states.push(await saveVcpuState(vcpu, msrIndices, msrGaps));
    const platform = savePlatform(source);
    const xen = source.xen?.save();
    const restoredAt = performance.now();

    states.forEach((state, i) => restoreVcpuState(destination.vcpus[i]!, state, msrGaps));
    restorePlatform(destination, platform);
    // After the kvmclock: the Xen timers' deadlines are in its time.
    if (xen) destination.xen!.restore(xen);
    void destination.start();
    const resumed = performance.now();
    source.handOver(destination);
    return {
      machine: destination,
      report: {
        rounds: precopy.rounds, finalPages, downtimeMs: resumed - paused, totalMs: performance.now() - started, msrGaps,
        downtimeParts: { pauseMs: savedAt - paused, saveMs: restoredAt - savedAt, restoreMs: resumed - restoredAt },
      },
    };
  } catch (error) {
    destination.close();
    if (!source.ended) {
      precopy?.stopLogging();
      if (paused !== undefined) source.resume();
    }
    throw error;
  }
}
