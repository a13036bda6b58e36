// Pre-copy of guest RAM with KVM's dirty-page log: copy everything while the guest runs, then, round
// after round, the pages it wrote meanwhile (KVM_GET_DIRTY_LOG hands them over and write-protects them
// again), until a round's set is small or stops shrinking. The last set is copied with the guest
// paused, together with the pages it writes until then.
import type { MemoryRegion, Vm } from '../../kvm';
import { KVM_MEM_LOG_DIRTY_PAGES } from '../../kvm';

export const PAGE_SIZE = 4096;

export interface PrecopyLimits {
  /** A dirty set of at most this many pages ends the pre-copy (default 256: 1 MiB). */
  targetPages?: number;
  /** At most this many rounds, the first full copy included (default 30). */
  maxRounds?: number;
}

export interface PrecopyRound {
  /** Pages copied in this round (the first round: all of them). */
  pages: number;
  ms: number;
}

const DEFAULT_TARGET_PAGES = 256;
const DEFAULT_MAX_ROUNDS = 30;
/** Copied between two turns of the event loop, so the guest's exits (its console) are served meanwhile. */
const CHUNK_PAGES = 1024;

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** How many bits are set in a dirty bitmap. */
export function countDirty(bitmap: Uint8Array): number {
  let count = 0;
  for (const byte of bitmap) {
    let bits = byte;
    while (bits) {
      bits &= bits - 1;
      count++;
    }
  }
  return count;
}

/** The runs of consecutive dirty pages, as [first page, page count]. */
export function dirtyRuns(bitmap: Uint8Array): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  let start = -1;
  for (let page = 0; page < bitmap.length * 8; page++) {
    const dirty = (bitmap[page >> 3]! >> (page & 7)) & 1;
    if (dirty && start < 0) start = page;
    if (!dirty && start >= 0) {
      runs.push([start, page - start]);
      start = -1;
    }
  }
  if (start >= 0) runs.push([start, bitmap.length * 8 - start]);
  return runs;
}

function copyPages(from: MemoryRegion, to: MemoryRegion, first: number, count: number): void {
  const start = first * PAGE_SIZE;
  const end = Math.min((first + count) * PAGE_SIZE, from.size);
  to.bytes.set(from.bytes.subarray(start, end), start);
}

/** Copies one slot of a running VM into another VM's slot of the same size, with dirty logging. */
export class Precopy {
  readonly rounds: PrecopyRound[] = [];
  private pending: Uint8Array | undefined;

  constructor(private readonly source: Vm, private readonly destination: Vm, private readonly slot: number) {
    const from = source.memory.slot(slot);
    const to = destination.memory.slot(slot);
    if (!from || !to) throw new RangeError(`memory slot ${slot} is missing on the ${from ? 'destination' : 'source'}`);
    if (from.size !== to.size || from.guestAddress !== to.guestAddress) throw new RangeError(`memory slot ${slot} differs between source and destination`);
  }

  /** Pre-copies while the guest runs; returns once the dirty set is small (or no longer shrinks). */
  async run(limits: PrecopyLimits = {}): Promise<void> {
    const target = limits.targetPages ?? DEFAULT_TARGET_PAGES;
    const maxRounds = limits.maxRounds ?? DEFAULT_MAX_ROUNDS;
    // Logging starts with an empty log: every write from now on is in the next KVM_GET_DIRTY_LOG.
    this.source.setMemoryFlags(this.slot, KVM_MEM_LOG_DIRTY_PAGES);
    const pages = Math.ceil(this.region(this.source).size / PAGE_SIZE);
    await this.copyRound([[0, pages]], pages);
    for (;;) {
      const bitmap = this.source.getDirtyLog(this.slot);
      const dirty = countDirty(bitmap);
      const previous = this.rounds.at(-1)!.pages;
      if (dirty <= target || this.rounds.length >= maxRounds || (this.rounds.length > 2 && dirty >= previous)) {
        this.pending = bitmap;
        return;
      }
      await this.copyRound(dirtyRuns(bitmap), dirty);
    }
  }

  /**
   * With the guest paused: copies the last round's set and what was written since. Returns how many
   * pages that was (the stop-and-copy set). `alsoPages`: page numbers to copy whatever the log says
   * (those the kernel writes without logging them).
   */
  finish(alsoPages: readonly number[] = []): number {
    const last = this.source.getDirtyLog(this.slot);
    const pending = this.pending ?? new Uint8Array(last.length).fill(0xff);
    const bitmap = last.map((byte, i) => byte | pending[i]!);
    for (const page of alsoPages) {
      if (page >= 0 && page < bitmap.length * 8) bitmap[page >> 3]! |= 1 << (page & 7);
    }
    const from = this.region(this.source);
    const to = this.region(this.destination);
    for (const [first, count] of dirtyRuns(bitmap)) copyPages(from, to, first, count);
    return countDirty(bitmap);
  }

  /**
   * Ends the dirty logging on the source, for a migration abandoned with the source running on. (A
   * migrated source is closed instead: changing a large slot's flags costs a memslot update.)
   */
  stopLogging(): void {
    this.source.setMemoryFlags(this.slot, 0);
  }

  private async copyRound(runs: ReadonlyArray<[number, number]>, pages: number): Promise<void> {
    const started = performance.now();
    const from = this.region(this.source);
    const to = this.region(this.destination);
    let sinceYield = 0;
    for (const [first, count] of runs) {
      for (let at = first; at < first + count; at += CHUNK_PAGES) {
        const n = Math.min(CHUNK_PAGES, first + count - at);
        copyPages(from, to, at, n);
        sinceYield += n;
        if (sinceYield >= CHUNK_PAGES) {
          sinceYield = 0;
          await yieldToEventLoop();
        }
      }
    }
    this.rounds.push({ pages, ms: performance.now() - started });
  }

  private region(vm: Vm): MemoryRegion {
    return vm.memory.slot(this.slot)!;
  }
}
