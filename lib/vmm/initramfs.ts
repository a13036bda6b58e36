// The initramfs for `kvm-xen boot`: busybox, the init, and the run's nonce and command. Uncompressed
// (the kernel unpacks a plain newc archive without a decompressor, and it is built per run).
import { cpioArchive } from '../vm/cpio';
import { staticBusybox } from '../vm/initramfs';
import { bootInitScript, runFiles } from './guest-init';

export interface InitramfsContents {
  nonce: string;
  /** The shell script the init runs (lib/vm's commandScript). */
  script: string;
  consoleStdin: boolean;
}

export function bootInitramfs(contents: InitramfsContents): Buffer {
  return cpioArchive([
    ...['bin', 'dev', 'proc', 'sys', 'tmp', 'run', 'run/kvm-xen'].map((dir) => ({ kind: 'dir' as const, path: dir })),
    { kind: 'file', path: 'bin/busybox', data: staticBusybox(), mode: 0o755 },
    { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
    { kind: 'file', path: 'init', data: Buffer.from(bootInitScript), mode: 0o755 },
    { kind: 'file', path: runFiles.nonce, data: Buffer.from(contents.nonce) },
    { kind: 'file', path: runFiles.command, data: Buffer.from(contents.script) },
    ...(contents.consoleStdin ? [{ kind: 'file' as const, path: runFiles.consoleStdin, data: new Uint8Array() }] : []),
  ]);
}
