// Each boot's private directory (/tmp/kvm-xen-vm-*: the per-run initramfs and the output FIFOs). The
// runner removes it when the boot ends; a runner killed by SIGKILL cannot, so each directory records
// its owner (pid and the process's start time, which tells a reused pid apart) and every run first
// removes the directories of owners that are gone.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const RUN_DIR_PREFIX = 'kvm-xen-vm-';
const OWNER_FILE = 'owner';
/** A directory without an owner file is being made right now, or by a runner older than owner files. */
const UNOWNED_GRACE_MS = 10 * 60 * 1000;

/** The start time of a process (clock ticks since boot, /proc/PID/stat field 22), or undefined if it is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3];
  } catch {
    return undefined;
  }
}

/** Makes a run directory owned by this process. */
export function makeRunDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), RUN_DIR_PREFIX));
  fs.writeFileSync(path.join(dir, OWNER_FILE), `${process.pid} ${processStartTime(process.pid) ?? ''}\n`);
  return dir;
}

function ownerGone(dir: string): boolean {
  let owner: string;
  try {
    owner = fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8');
  } catch {
    const stat = fs.statSync(dir, { throwIfNoEntry: false });
    return stat !== undefined && Date.now() - stat.mtimeMs > UNOWNED_GRACE_MS;
  }
  const [pid, started] = owner.trim().split(' ');
  if (!pid || !/^\d+$/.test(pid)) return true;
  return processStartTime(Number(pid)) !== started;
}

/** Removes the run directories whose runner is dead; returns them. */
export function removeStaleRunDirs(): string[] {
  const removed = [];
  let entries: string[];
  try {
    entries = fs.readdirSync(os.tmpdir());
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!entry.startsWith(RUN_DIR_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), entry);
    try {
      if (!fs.lstatSync(dir).isDirectory() || !ownerGone(dir)) continue;
      fs.rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // another user's directory, or removed meanwhile by another runner: not ours to worry about
    }
  }
  return removed;
}
