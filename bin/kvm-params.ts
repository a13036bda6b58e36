// A matrix column's runner options: its kernel, its KVM modules and its module parameters.
import type { MatrixColumn } from '../lib/matrix';
import { VmError, type VmOptions } from '../lib/vm';

export function columnVmOptions(column: MatrixColumn): VmOptions {
  // The runner takes module parameters once the kvm-param work lands (issue 13 item 2).
  if (column.kvmParams.length > 0) throw new VmError('usage', '--kvm-param is not available in this build of kvm-xen yet');
  return { kernel: column.kernel, ...(column.kvmModules ? { kvmModules: column.kvmModules } : {}) };
}
