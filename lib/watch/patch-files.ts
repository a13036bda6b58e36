// The patch files a watch follows: their contents as one fingerprint, and a wait for the next time that
// fingerprint changes. Files are polled by name (fs.watchFile), which sees an editor's save whether it
// writes in place or renames a new file over the old one; a save that leaves the contents as they were
// is no change.
import crypto from 'node:crypto';
import fs from 'node:fs';

/** After a change is seen, the contents must hold still this long (an editor writing in pieces). */
const SETTLE_MS = 100;

export class PatchFiles {
  private wake: (() => void) | undefined;
  private readonly listener = (): void => this.wake?.();

  constructor(readonly files: readonly string[], pollMs: number) {
    for (const file of files) fs.watchFile(file, { interval: pollMs }, this.listener);
  }

  /** The files' contents, fingerprinted (a missing file counts as its own state). */
  fingerprint(): string {
    const hash = crypto.createHash('sha256');
    for (const file of this.files) {
      try {
        hash.update(fs.readFileSync(file)).update('\0file\0');
      } catch {
        hash.update('\0missing\0');
      }
    }
    return hash.digest('hex');
  }

  /**
   * Resolves with the new fingerprint once the contents differ from `since` and have settled; resolves
   * with undefined when `signal` aborts first.
   */
  async changedFrom(since: string, signal: AbortSignal): Promise<string | undefined> {
    let current = this.fingerprint();
    while (current === since) {
      if (!await this.poked(signal)) return undefined;
      current = this.fingerprint();
    }
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const settled = this.fingerprint();
      if (settled === current) return settled;
      current = settled;
    }
  }

  close(): void {
    for (const file of this.files) fs.unwatchFile(file, this.listener);
    this.wake?.();
  }

  /** Waits for the next poll that saw a file change; false if `signal` aborted. */
  private poked(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (changed: boolean): void => {
        this.wake = undefined;
        signal.removeEventListener('abort', onAbort);
        resolve(changed);
      };
      const onAbort = (): void => done(false);
      this.wake = () => done(true);
      signal.addEventListener('abort', onAbort);
    });
  }
}
