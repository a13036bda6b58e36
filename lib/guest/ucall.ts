// The host half of the ucall protocol (lib/guest/runtime/ucall.h): an `outl` to UCALL_PORT whose data
// is the guest address of a struct ucall { cmd, nargs, args[6] } (all u64).
import { describeExit, type VcpuExit } from '../kvm/exits';
import type { GuestMemory } from '../kvm/memory';
import { array, struct, u64 } from '../kvm/layout';

export const UCALL_PORT = 0x1000;

const ucallStruct = struct('ucall', 64, { cmd: u64(0), nargs: u64(8), args: array(16, 'u64', 6) });

const commands = { 1: 'sync', 2: 'abort', 3: 'done', 4: 'print', 5: 'exception' } as const;

export type Ucall =
  | { cmd: 'sync'; args: bigint[] }
  | { cmd: 'done' }
  | { cmd: 'print'; message: string }
  | { cmd: 'abort'; file: string; line: number; message: string }
  | { cmd: 'exception'; vector: number; errorCode: bigint; rip: bigint; cs: bigint; rflags: bigint; cr2: bigint };

/** The ucall an exit carries, or undefined if the exit is not a ucall. */
export function decodeUcall(exit: VcpuExit, memory: GuestMemory): Ucall | undefined {
  if (exit.reason !== 'io' || exit.port !== UCALL_PORT || exit.direction !== 'out' || exit.size !== 4) return undefined;
  const address = new DataView(exit.data.buffer, exit.data.byteOffset, 4).getUint32(0, true);
  const uc = ucallStruct.decode(memory.view(address, ucallStruct.size));
  const args = uc.args.slice(0, Math.min(Number(uc.nargs), 6));
  const cmd = commands[Number(uc.cmd) as keyof typeof commands];
  switch (cmd) {
    case 'sync': return { cmd, args };
    case 'done': return { cmd };
    case 'print': return { cmd, message: memory.readCString(Number(args[0])) };
    case 'abort': return { cmd, file: memory.readCString(Number(args[0])), line: Number(args[1]), message: memory.readCString(Number(args[2])) };
    case 'exception': {
      const [vector = 0n, errorCode = 0n, rip = 0n, cs = 0n, rflags = 0n, cr2 = 0n] = args;
      return { cmd, vector: Number(vector), errorCode, rip, cs, rflags, cr2 };
    }
    default: throw new Error(`unknown ucall command ${uc.cmd} at guest address 0x${address.toString(16)}`);
  }
}

const vectorNames = ['#DE', '#DB', 'NMI', '#BP', '#OF', '#BR', '#UD', '#NM', '#DF', 'coprocessor overrun', '#TS', '#NP',
  '#SS', '#GP', '#PF', 'reserved', '#MF', '#AC', '#MC', '#XM', '#VE', '#CP'];

/** A GUEST_ASSERT that failed, with the guest's file, line and message. */
export class GuestAssertionError extends Error {
  constructor(readonly file: string, readonly line: number, readonly guestMessage: string) {
    super(`guest assertion failed at ${file}:${line}: ${guestMessage}`);
    this.name = 'GuestAssertionError';
  }
}

/** An exception the guest did not handle, as its exception stub reported it. */
export class GuestExceptionError extends Error {
  constructor(readonly vector: number, readonly errorCode: bigint, readonly rip: bigint, readonly cr2: bigint) {
    const name = vectorNames[vector] ?? `vector ${vector}`;
    super(`unhandled guest exception ${name} (vector ${vector}) at rip 0x${rip.toString(16)}, error code 0x${errorCode.toString(16)}` +
      (vector === 14 ? `, cr2 0x${cr2.toString(16)}` : ''));
    this.name = 'GuestExceptionError';
  }
}

/** An exit that is not a ucall where the host expected one. */
export class UnexpectedExitError extends Error {
  constructor(readonly exit: VcpuExit, context = 'waiting for a ucall') {
    super(`unexpected exit while ${context}: ${describeExit(exit)}`);
    this.name = 'UnexpectedExitError';
  }
}
