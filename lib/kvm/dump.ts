// A vCPU's state in a few lines, for failure reports ("IRQ delivery timed out" and the like).
import type { Vcpu } from './vcpu';

const hex = (value: bigint): string => `0x${value.toString(16).padStart(16, '0')}`;

export function dumpVcpu(vcpu: Vcpu): string[] {
  try {
    const r = vcpu.getRegs();
    const s = vcpu.getSregs();
    return [
      `vCPU ${vcpu.id}:`,
      `  rip ${hex(r.rip)} rsp ${hex(r.rsp)} rflags ${hex(r.rflags)}`,
      `  rax ${hex(r.rax)} rbx ${hex(r.rbx)} rcx ${hex(r.rcx)} rdx ${hex(r.rdx)}`,
      `  rsi ${hex(r.rsi)} rdi ${hex(r.rdi)} rbp ${hex(r.rbp)} r8  ${hex(r.r8)}`,
      `  cr0 ${hex(s.cr0)} cr2 ${hex(s.cr2)} cr3 ${hex(s.cr3)} cr4 ${hex(s.cr4)} efer ${hex(s.efer)}`,
      `  cs ${s.cs.selector.toString(16)} (l=${s.cs.l}) ss ${s.ss.selector.toString(16)} idt ${hex(s.idt.base)}+${s.idt.limit}`,
    ];
  } catch (error) {
    return [`vCPU ${vcpu.id}: state unreadable (${(error as Error).message})`];
  }
}
