// Builds a freestanding C guest program with the runtime (lib/guest/runtime) into an ELF file that
// GuestMachine.create loads: the runtime's sources compiled and linked with the program in one compiler
// run, with the flags of runtime/flags.json — the same that `make guests` uses for this project's own
// guests.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { projectRoot } from '../paths';

/** The runtime's directory: headers to include, sources to link, the linker script. */
export const guestRuntimeDir = path.join(projectRoot, 'lib', 'guest', 'runtime');

export interface GuestBuildOptions {
  /** The ELF file to write (default: the source's path with .elf instead of its extension). */
  output?: string | undefined;
  /** The C compiler (default: flags.json's, gcc). */
  cc?: string | undefined;
  /** More directories for #include "..." (the runtime's is always there). */
  includeDirs?: readonly string[] | undefined;
  /** More flags, after the runtime's (e.g. -DNAME=1, -O0). */
  extraFlags?: readonly string[] | undefined;
}

export interface GuestBuildResult {
  /** The ELF file written. */
  output: string;
  /** The compiler command, argv[0] first. */
  command: string[];
  /** The compiler's warnings (its stderr), if any. */
  diagnostics: string;
}

export type GuestBuildErrorCode = 'ERR_GUEST_SOURCE_MISSING' | 'ERR_GUEST_NO_COMPILER' | 'ERR_GUEST_COMPILE';

/** A build that did not produce the ELF: no source, no compiler, or the compiler refused it. */
export class GuestBuildError extends Error {
  constructor(readonly code: GuestBuildErrorCode, message: string, readonly diagnostics = '', readonly command: string[] = []) {
    super(message);
    this.name = 'GuestBuildError';
  }
}

interface Flags {
  cc: string;
  cflags: string[];
  ldflags: string[];
}

function runtimeFlags(): Flags {
  const raw = JSON.parse(fs.readFileSync(path.join(guestRuntimeDir, 'flags.json'), 'utf8')) as Flags;
  const place = (flag: string): string => flag.replaceAll('{runtime}', guestRuntimeDir);
  return { cc: raw.cc, cflags: raw.cflags.map(place), ldflags: raw.ldflags.map(place) };
}

/** The runtime's C and assembly sources, in a stable order. */
function runtimeSources(): string[] {
  return fs.readdirSync(guestRuntimeDir).filter((name) => /\.(c|S)$/.test(name)).sort().map((name) => path.join(guestRuntimeDir, name));
}

function stringList(name: string, value: unknown): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw new TypeError(`options.${name} must be an array of strings`);
  return value;
}

/** Compiles `source` (a C file) with the runtime into an ELF guest program. */
export async function buildGuest(source: string, options: GuestBuildOptions = {}): Promise<GuestBuildResult> {
  if (typeof source !== 'string' || source === '') throw new TypeError('source must be the path of a C file');
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  if (options.output !== undefined && (typeof options.output !== 'string' || options.output === '')) throw new TypeError('options.output must be a path');
  if (options.cc !== undefined && (typeof options.cc !== 'string' || options.cc === '')) throw new TypeError('options.cc must be a command');
  const includeDirs = stringList('includeDirs', options.includeDirs);
  const extraFlags = stringList('extraFlags', options.extraFlags);
  if (!fs.statSync(source, { throwIfNoEntry: false })?.isFile()) {
    throw new GuestBuildError('ERR_GUEST_SOURCE_MISSING', `${source}: no such file`);
  }
  const output = path.resolve(options.output ?? source.replace(/(\.[^./]*)?$/, '.elf'));
  if (output === path.resolve(source)) throw new TypeError('options.output must not be the source itself');
  const flags = runtimeFlags();
  const cc = options.cc ?? flags.cc;
  const args = [
    ...flags.cflags, ...includeDirs.flatMap((dir) => ['-I', dir]), ...extraFlags, ...flags.ldflags,
    path.resolve(source), ...runtimeSources(), '-o', output,
  ];
  const command = [cc, ...args];
  return new Promise((resolve, reject) => {
    execFile(cc, args, { maxBuffer: 16 << 20 }, (error, _stdout, stderr) => {
      if (!error) {
        resolve({ output, command, diagnostics: stderr });
        return;
      }
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new GuestBuildError('ERR_GUEST_NO_COMPILER', `${cc}: not found (install gcc, or pass another C compiler)`, '', command));
        return;
      }
      reject(new GuestBuildError('ERR_GUEST_COMPILE', `${cc} could not build ${source}`, stderr, command));
    });
  });
}
