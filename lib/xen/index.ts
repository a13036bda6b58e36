// lib/xen: KVM's Xen emulation (attributes, event channels) and views of the Xen guest ABI.
export { XenVm, type XenConfig, type XenConfigFlag, type OutboundPort, type EvtchnTarget } from './xen-vm';
export { XenVcpu } from './xen-vcpu';
export {
  hvmAttributes, vcpuAttributes, encodeHvmAttr, encodeVcpuAttr, decodeHvmAttr, decodeVcpuAttr, asU64,
  type HvmAttributeName, type HvmAttributeValue, type VcpuAttributeName, type VcpuAttributeValue,
  type RunstateData, type RunstateAdjust, type XenTimer,
} from './attributes';
export { SharedInfoView, VcpuInfoView, RunstateView, PvclockView, type RunstateInfo, type PvclockTime, type WallClock } from './views';
export * from './abi';
export { XEN_INVALID_GFN, XEN_INVALID_GPA, hvmAttrType, vcpuAttrType, evtchnFlags } from './uapi';
export { saveXenState, restoreXenState, type XenVmState, type XenVcpuState, type RestoreOptions } from './state';
