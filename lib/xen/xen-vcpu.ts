// The Xen side of a vCPU (vCPU fd): the vCPU attributes.
import type { Vcpu } from '../kvm';
import {
  decodeVcpuAttr, encodeVcpuAttr, type VcpuAttributeName, type VcpuAttributeValue, vcpuAttrQuery, vcpuAttributes,
} from './attributes';

type Readable = Exclude<VcpuAttributeName, 'RUNSTATE_ADJUST'>;

export class XenVcpu {
  constructor(readonly vcpu: Vcpu) {}

  set<N extends VcpuAttributeName>(name: N, value: VcpuAttributeValue<N>): void {
    this.vcpu.ioctl('KVM_XEN_VCPU_SET_ATTR', encodeVcpuAttr(name, value));
  }

  get<N extends Readable>(name: N): ReturnType<(typeof vcpuAttributes)[N]['decode']> {
    const bytes = vcpuAttrQuery(name);
    this.vcpu.ioctl('KVM_XEN_VCPU_GET_ATTR', bytes);
    return decodeVcpuAttr(name, bytes);
  }
}
