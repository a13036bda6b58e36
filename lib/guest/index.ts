// lib/guest: run our own freestanding guest programs in a long-mode VM.
export { GuestMachine, type GuestMachineOptions, type StopUcall, type UcallRunOptions } from './machine';
export { decodeUcall, UCALL_PORT, GuestAssertionError, GuestExceptionError, UnexpectedExitError, type Ucall } from './ucall';
export { parseElf, ElfError, type ElfImage, type ElfSegment, type ElfSymbol } from './elf';
export { PageTables, type MapOptions } from './paging';
export { guestLayout, PAGE_SIZE } from './layout';
export { kvmForcedEmulationEnabled, setForcedEmulation, guestPutCounts, FORCE_EMULATION_PREFIX_PARAM, type ForcedEmulationSetting } from './forced-emulation';
export { buildGuest, guestRuntimeDir, GuestBuildError, type GuestBuildOptions, type GuestBuildResult, type GuestBuildErrorCode } from './build';
