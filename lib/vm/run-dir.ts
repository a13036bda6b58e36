// Each boot's private directory (/tmp/kvm-xen-vm-*: the per-run initramfs and the output FIFOs). The
// runner removes it when the boot ends; a runner killed by SIGKILL cannot, so each directory records
// its owner (pid and the process's start time, which tells a reused pid apart) and every run first
// removes the directories of owners that are gone.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ownerAlive, ownerRecord } from '../process';

export const RUN_DIR_PREFIX = 'kvm-xen-vm-';
const OWNER_FILE = 'owner';
/** A directory without an owner file is being made right now, or by a runner older than owner files. */
const UNOWNED_GRACE_MS = 10 * 60 * 1000;

/** Makes a run directory owned by this process (in `parent`, default the system's temporary directory). */
export function makeRunDir(parent = os.tmpdir()): string {
  const dir = fs.mkdtempSync(path.join(parent, RUN_DIR_PREFIX));
  fs.writeFileSync(path.join(dir, OWNER_FILE), ownerRecord());
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
  return !ownerAlive(owner);
}

/** Removes the run directories in `parent` whose runner is dead; returns them. */
export function removeStaleRunDirs(parent = os.tmpdir()): string[] {
  const removed = [];
  let entries: string[];
  try {
    entries = fs.readdirSync(parent);
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!entry.startsWith(RUN_DIR_PREFIX)) continue;
    const dir = path.join(parent, entry);
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
