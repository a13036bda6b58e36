// Opening /dev/kvm the kselftest way: a missing or inaccessible device skips the test (exit 4) with
// the reason, as open_kvm_dev_path_or_exit() does; anything else is a failure.
import { Kvm, KvmError } from '../../lib/kvm';
import { TestSkip } from './ksft';

export const KVM_DEVICE = '/dev/kvm';

export function openKvmOrSkip(): Kvm {
  try {
    return Kvm.open(KVM_DEVICE);
  } catch (error) {
    if (error instanceof KvmError && ['ENOENT', 'EACCES', 'EPERM', 'ENODEV', 'ENXIO'].includes(error.code)) {
      throw new TestSkip(`${KVM_DEVICE} not available: ${error.code}`);
    }
    throw error;
  }
}
