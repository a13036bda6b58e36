// lib/kvm: typed objects over /dev/kvm.
export { Kvm } from './system';
export { irqchipIds, type IrqchipId } from './vm';
export { Vm, XEN_EVTCHN_PRIORITY_2LEVEL, clockFlags, type GsiRoute, type ClockData, type MemorySlotOptions, type IrqfdAssignment } from './vm';
export { Vcpu, type Regs, type Sregs, type RunOptions, type VcpuEvents, type CpuidEntry, type VcpuContext } from './vcpu';
export { EventFd, type EventFdOptions } from './eventfd';
export { GuestMemory, MemoryRegion } from './memory';
export { KvmError, ClosedError, BusyError, errnoName } from './errors';
export { decodeExit, describeExit, exitReasons, type VcpuExit, type IoExit, type MmioExit, type XenHypercallExit } from './exits';
export { capabilities, checkExtension, xenHvmFlags, decodeXenHvmCaps, type CapabilityName, type XenHvmFlag, type XenHvmCaps } from './caps';
export { allRequests, requestInfo, type RequestName } from './requests';
export { IoctlRepeater, type RepeatedIoctl } from './ioctl-loop';
export { dumpVcpu } from './dump';
export { snapshotVm, restoreVm, snapshotVcpu, type VmSnapshot, type VcpuSnapshot, type MemorySnapshot } from './snapshot';
export { KVM_MEM_LOG_DIRTY_PAGES } from './structs';
