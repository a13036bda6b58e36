// What the Xen personality needs of the machine it runs in (LinuxMachine provides it).
import type { Vcpu, Vm } from '../../kvm';

export interface XenHost {
  readonly vm: Vm;
  readonly cpus: number;
  vcpu(id: number): Vcpu;
  /** Runs `work` between two runs of vCPU `id` (its ioctls wait while it runs). */
  onVcpu<T>(id: number, work: (vcpu: Vcpu) => T): Promise<T>;
}
