// The numbers of xen_shinfo_test, as upstream has them (tools/testing/selftests/kvm/x86_64/xen_shinfo_test.c:18-79 in 6.12).
import { PAGE_SIZE } from '../../lib/guest/layout';

export { PAGE_SIZE };
export const SHINFO_REGION_GPA = 0xc0000000;
export const SHINFO_REGION_GVA = SHINFO_REGION_GPA;
export const SHINFO_REGION_SLOT = 10;

export const DUMMY_REGION_GPA = SHINFO_REGION_GPA + 3 * PAGE_SIZE;
export const DUMMY_REGION_SLOT = 11;
export const DUMMY_REGION_GPA_2 = SHINFO_REGION_GPA + 4 * PAGE_SIZE;
export const DUMMY_REGION_SLOT_2 = 12;

export const SHINFO_ADDR = SHINFO_REGION_GPA;
export const VCPU_INFO_ADDR = SHINFO_REGION_GPA + 0x40;
export const PVTIME_ADDR = SHINFO_REGION_GPA + PAGE_SIZE;
export const RUNSTATE_ADDR = SHINFO_REGION_GPA + PAGE_SIZE + PAGE_SIZE - 15;

export const EVTCHN_VECTOR = 0x10;
export const EVTCHN_TEST1 = 15;
export const EVTCHN_TEST2 = 66;
export const EVTCHN_TIMER = 13;

export const XEN_HYPERCALL_MSR = 0x40000000;
export const MIN_STEAL_TIME = 50000;
export const SHINFO_RACE_TIMEOUT_S = 2;
export const TIMER_DELTA_NS = 100000000n;

/**
 * The sync points, numbered as upstream's enum (xen_shinfo_test.c:43-72 in 6.12). The guest's copy in
 * selftests/guests/xen_shinfo_test.c must match: test/shinfo-stages.test.ts reads it and fails on drift.
 */
export const stageNames = [
  'TEST_INJECT_VECTOR', 'TEST_RUNSTATE_runnable', 'TEST_RUNSTATE_blocked', 'TEST_RUNSTATE_offline',
  'TEST_RUNSTATE_ADJUST', 'TEST_RUNSTATE_DATA', 'TEST_STEAL_TIME', 'TEST_EVTCHN_MASKED', 'TEST_EVTCHN_UNMASKED',
  'TEST_EVTCHN_SLOWPATH', 'TEST_EVTCHN_SEND_IOCTL', 'TEST_EVTCHN_HCALL', 'TEST_EVTCHN_HCALL_SLOWPATH',
  'TEST_EVTCHN_HCALL_EVENTFD', 'TEST_TIMER_SETUP', 'TEST_TIMER_WAIT', 'TEST_TIMER_RESTORE', 'TEST_POLL_READY',
  'TEST_POLL_TIMEOUT', 'TEST_POLL_MASKED', 'TEST_POLL_WAKE', 'SET_VCPU_INFO', 'TEST_TIMER_PAST',
  'TEST_LOCKING_SEND_RACE', 'TEST_LOCKING_POLL_RACE', 'TEST_LOCKING_POLL_TIMEOUT', 'TEST_DONE',
] as const;

export const Stage = Object.fromEntries(stageNames.map((name, index) => [name, index])) as { readonly [K in (typeof stageNames)[number]]: number };
/** Not a stage: the guest's IRQ handler syncs with this from inside the upcall. */
export const TEST_GUEST_SAW_IRQ = 27;

/** The final checks after the stages (the upstream `done:` label), one KTAP line each. */
export const finalCheckNames = [
  'final: KVM_XEN_ATTR_TYPE_EVTCHN reset',
  'final: wall clock and pvclock versions',
  'final: runstate area across the page boundary (compat and 64-bit)',
] as const;
