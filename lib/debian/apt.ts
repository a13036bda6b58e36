// The host's own packages: the programs a step needs, installed with apt-get when they are missing
// (as root), the package lists refreshed once first when they do not offer a package (stale lists on a
// fresh machine), or an error naming the exact command. KVM_XEN_NO_INSTALL=1 forbids changing the
// host (no `apt-get install`, no `apt-get update`): the caller gets the command instead.
import fs from 'node:fs';
import path from 'node:path';

import { runProgram } from '../process';
import { forgetAptAnswers } from './packages';
import type { OnProgress } from '../progress';

/** A program (or library) a step needs, and the Debian package that brings it. */
export interface HostTool {
  /** What the user is told is missing: a program name, or a library's file name. */
  name: string;
  package: string;
  present: () => boolean;
}

/** Programs and libraries are missing: the CLI exits 69 (EX_UNAVAILABLE) with `message`. */
export class MissingPackages extends Error {
  constructor(message: string, readonly packages: readonly string[], readonly command: string) {
    super(message);
    this.name = 'MissingPackages';
  }
}

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The file `program` (a name looked up in PATH, or a path) runs, if it can be run. */
export function programFile(program: string): string | undefined {
  if (program.includes('/')) return executable(program) ? program : undefined;
  return (process.env['PATH'] ?? '').split(':').filter((dir) => dir !== '').map((dir) => path.join(dir, program)).find(executable);
}

/** Whether `program` (a name looked up in PATH, or a path) can be run. */
export function onPath(program: string): boolean {
  return programFile(program) !== undefined;
}

/** A program in PATH, from `pkg`. */
export function programTool(program: string, pkg: string): HostTool {
  return { name: program, package: pkg, present: () => onPath(program) };
}

/** A shared library the dynamic linker finds in Debian's multiarch directories, from `pkg`. */
export function libraryTool(file: string, pkg: string): HostTool {
  const dirs = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu'];
  return { name: file, package: pkg, present: () => dirs.some((dir) => fs.existsSync(path.join(dir, file))) };
}

/** Root, and not told to keep the host as it is (KVM_XEN_NO_INSTALL=1). */
export function mayChangeHost(): boolean {
  return process.getuid?.() === 0 && !process.env['KVM_XEN_NO_INSTALL'];
}

const aptEnv = (): NodeJS.ProcessEnv => ({ ...process.env, DEBIAN_FRONTEND: 'noninteractive' });

/** Runs apt-get; what it says goes to onProgress once it has ended. */
async function aptGet(args: readonly string[], onProgress: OnProgress | undefined): Promise<boolean> {
  const result = await runProgram('apt-get', args, { env: aptEnv() });
  const said = `${result.stdout}${result.stderr}`;
  if (said) onProgress?.({ kind: 'toolOutput', text: said });
  return result.status === 0;
}

/** Whether the package lists offer an installable version of `pkg` (apt-cache policy's candidate). */
export async function offered(pkg: string): Promise<boolean> {
  try {
    const result = await runProgram('apt-cache', ['policy', pkg]);
    const candidate = /^\s*Candidate: (\S+)/m.exec(result.stdout)?.[1];
    return result.status === 0 && candidate !== undefined && candidate !== '(none)';
  } catch {
    return false;  // no apt-cache here
  }
}

let refreshed = false;

/**
 * Refreshes the package lists (apt-get update) once per process, saying why in one line; false if
 * it may not (not root, or KVM_XEN_NO_INSTALL) or already did, or apt-get update failed.
 */
export async function refreshPackageLists(why: string, onProgress?: OnProgress): Promise<boolean> {
  if (refreshed || !mayChangeHost()) return false;
  refreshed = true;
  onProgress?.({ kind: 'step', text: `the package lists ${why}; refreshing them with apt-get update` });
  const updated = await aptGet(['update', '-q'], onProgress);
  forgetAptAnswers();
  return updated;
}

/** The command that installs `packages`, with an update first when the lists do not offer one. */
function installCommand(packages: readonly string[], stale: boolean): string {
  const sudo = process.getuid?.() === 0 ? '' : 'sudo ';
  return `${stale ? `${sudo}apt-get update && ` : ''}${sudo}apt-get install ${packages.join(' ')}`;
}

/** Installs Debian packages with apt-get (root only), refreshing the lists first if they lack one. */
export async function installPackages(packages: readonly string[], onProgress?: OnProgress): Promise<boolean> {
  if (!mayChangeHost() || packages.length === 0) return false;
  const notOffered = [];
  for (const pkg of packages) if (!(await offered(pkg))) notOffered.push(pkg);
  if (notOffered.length > 0) await refreshPackageLists(`do not offer ${notOffered.join(', ')}`, onProgress);
  onProgress?.({ kind: 'step', text: `installing ${packages.join(' ')}` });
  return aptGet(['install', '-y', '-q', '--no-install-recommends', ...packages], onProgress);
}

/**
 * Makes sure every tool is there: installs the missing ones' packages if it may, else throws
 * MissingPackages naming what is missing and the exact apt-get line. `purpose` says who needs them.
 */
export async function ensureTools(tools: readonly HostTool[], purpose: string, onProgress?: OnProgress): Promise<void> {
  const missing = (): HostTool[] => tools.filter((tool) => !tool.present());
  const before = missing();
  if (before.length === 0) return;
  const packages = [...new Set(before.map((tool) => tool.package))];
  if ((await installPackages(packages, onProgress)) && missing().length === 0) return;
  const notOffered = [];
  for (const pkg of packages) if (!(await offered(pkg))) notOffered.push(pkg);
  const command = installCommand(packages, notOffered.length > 0);
  const refused = process.getuid?.() === 0 && process.env['KVM_XEN_NO_INSTALL'] ? ' (not installed: KVM_XEN_NO_INSTALL is set)' : '';
  throw new MissingPackages(`${purpose} needs ${missing().map((tool) => tool.name).join(', ')}, which ${missing().length === 1 ? 'is' : 'are'} missing${refused}; install with: ${command}`, packages, command);
}
