// The guest's event channels, 2-level (KVM delivers no other kind). The VMM allocates the ports; KVM
// delivers them in the kernel: a VIRQ_TIMER port through the vCPU's TIMER attribute, an IPI port as an
// outbound port of type ipi (EVTCHNOP_send on it then never leaves KVM). Other VIRQs (VIRQ_DEBUG, ...)
// get a port that nothing raises, as on a Xen that never has that event.
import { XEN_EVTCHN_PRIORITY_2LEVEL } from '../../kvm';
import { maxPorts, SharedInfoView, virqs, XenVcpu, type XenVm, xenErrno } from '../../xen';
import type { XenHost } from './host';

export type PortBinding =
  | { port: number; kind: 'virq'; virq: number; vcpu: number }
  | { port: number; kind: 'ipi'; vcpu: number };

/** A hypercall's answer: 0 / a value, or a negated Xen errno. */
export type Answer = number | bigint;
const fail = (errno: keyof typeof xenErrno): Answer => -xenErrno[errno];

export class EventChannels {
  private readonly bound = new Map<number, PortBinding>();
  private next = 1;

  constructor(private readonly host: XenHost, private readonly xen: XenVm) {}

  /** Every bound port, in port order. */
  get bindings(): PortBinding[] {
    return [...this.bound.values()].sort((a, b) => a.port - b.port);
  }

  /** Takes over a migrated guest's bindings (KVM's side of them comes back with lib/xen's restoreXenState). */
  adopt(bindings: readonly PortBinding[]): void {
    this.bound.clear();
    for (const binding of bindings) this.bound.set(binding.port, { ...binding });
    this.next = 1;
  }

  /** The port of vCPU `vcpu`'s VIRQ_TIMER, if bound. */
  timerPort(vcpu: number): number | undefined {
    return this.bindings.find((b) => b.kind === 'virq' && b.virq === virqs.timer && b.vcpu === vcpu)?.port;
  }

  async bindVirq(virq: number, vcpu: number): Promise<Answer> {
    if (!this.validVcpu(vcpu)) return fail('ENOENT');
    if (this.bindings.some((b) => b.kind === 'virq' && b.virq === virq && b.vcpu === vcpu)) return fail('EEXIST');
    const port = this.allocate();
    if (port === undefined) return fail('ENOSPC');
    if (virq === virqs.timer) {
      await this.host.onVcpu(vcpu, (target) => new XenVcpu(target).set('TIMER', { port, priority: XEN_EVTCHN_PRIORITY_2LEVEL, expiresNs: 0n }));
    }
    this.bound.set(port, { port, kind: 'virq', virq, vcpu });
    return port;
  }

  bindIpi(vcpu: number): Answer {
    if (!this.validVcpu(vcpu)) return fail('ENOENT');
    const port = this.allocate();
    if (port === undefined) return fail('ENOSPC');
    this.xen.assignEvtchn({ sendPort: port, type: 'ipi', deliver: { port, vcpu } });
    this.bound.set(port, { port, kind: 'ipi', vcpu });
    return port;
  }

  async close(port: number): Promise<Answer> {
    const binding = this.bound.get(port);
    if (!binding) return fail('EINVAL');
    if (binding.kind === 'ipi') this.xen.deassignEvtchn(port);
    else if (binding.virq === virqs.timer) {
      await this.host.onVcpu(binding.vcpu, (target) => new XenVcpu(target).set('TIMER', { port: 0, priority: XEN_EVTCHN_PRIORITY_2LEVEL, expiresNs: 0n }));
    }
    this.bound.delete(port);
    return 0;
  }

  /** EVTCHNOP_send that KVM passed up: only IPI ports can be sent on (KVM takes those itself). */
  send(port: number): Answer {
    const binding = this.bound.get(port);
    if (!binding || binding.kind !== 'ipi') return fail('EINVAL');
    this.raise(binding);
    return 0;
  }

  /**
   * EVTCHNOP_unmask: the guest asks when the port is pending (or bound to another vCPU), so that the
   * hypervisor re-raises it. Cleared and sent again, KVM sets the pending bits and the upcall.
   */
  unmask(port: number, sharedInfo: SharedInfoView | undefined): Answer {
    const binding = this.bound.get(port);
    if (!binding || !sharedInfo) return fail('EINVAL');
    sharedInfo.setMasked(port, false);
    if (sharedInfo.isPending(port)) {
      sharedInfo.setPending(port, false);
      this.raise(binding);
    }
    return 0;
  }

  private raise(binding: PortBinding): void {
    this.xen.sendEvtchn({ port: binding.port, vcpu: binding.vcpu });
  }

  private validVcpu(vcpu: number): boolean {
    return Number.isInteger(vcpu) && vcpu >= 0 && vcpu < this.host.cpus;
  }

  private allocate(): number | undefined {
    while (this.next < maxPorts('long') && this.bound.has(this.next)) this.next++;
    return this.next < maxPorts('long') ? this.next++ : undefined;
  }
}
