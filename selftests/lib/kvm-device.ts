// Opening /dev/kvm the kselftest way (open_path_or_exit() in tools/testing/selftests/kvm/lib/kvm_util.c):
// no device node (ENOENT) means this kernel has no KVM, and the test skips (exit 4) with the reason; any
// other error — EACCES for a user outside the device's group above all — is a failure (exit 1) that says
// what went wrong, so a misconfigured CI runner cannot pass as "skipped".
import { KvmError } from '../../lib/kvm/errors';
import { Kvm } from '../../lib/kvm/system';
import { TestFailure, TestSkip } from './ksft';

export const KVM_DEVICE = '/dev/kvm';

const PERMISSION = ['EACCES', 'EPERM'];

export function openKvmOrSkip(): Kvm {
  try {
    return Kvm.open(KVM_DEVICE);
  } catch (error) {
    if (!(error instanceof KvmError)) throw error;
    if (error.code === 'ENOENT') throw new TestSkip(`${KVM_DEVICE} not available: ENOENT`);
    const hint = PERMISSION.includes(error.code) ? ` (uid ${process.getuid?.()} may not use it: run as root or as a member of its group)` : '';
    throw new TestFailure(`Failed to open '${KVM_DEVICE}': ${error.code}${hint}`);
  }
}
