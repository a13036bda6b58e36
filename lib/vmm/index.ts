// lib/vmm: a small VMM on lib/kvm that boots a Linux bzImage without firmware, and `kvm-xen boot` on it.
export { LinuxMachine, type MachineOptions, type PlatformOptions, type MachineEnd } from './machine';
export { bootCommand, bootCmdline, type BootRequest, type BootResult } from './run';
export { parseBzImage, BzImageError, type BzImage } from './bzimage';
export { LoadError } from './loader';
export { PortBus, type PortDevice } from './devices/port-bus';
export { Uart16550 } from './devices/uart';
export { migrate, type Migration, type MigrationReport, type MigrateOptions } from './migrate';
export { XenPersonality, XenUnavailableError, type XenOptions, type XenPersonalityState, type XenVcpuPlaces } from './xen/personality';
export type { PortBinding } from './xen/event-channels';
