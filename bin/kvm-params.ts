// A matrix column's runner options: its kernel, its KVM modules and its module parameters (checked
// in form here, as --kvm-param is everywhere; against the module files by the runner before a boot).
import type { MatrixColumn } from '../lib/matrix';
import { parseKvmParam, VmError, type KvmParam, type VmOptions } from '../lib/vm';

export function columnVmOptions(column: MatrixColumn): VmOptions {
  let kvmParams: KvmParam[];
  try {
    kvmParams = column.kvmParams.map(parseKvmParam);
  } catch (error) {
    if (error instanceof RangeError) throw new VmError('usage', `--kvm-param: ${error.message}`);
    throw error;
  }
  return { kernel: column.kernel, ...(column.kvmModules ? { kvmModules: column.kvmModules } : {}), ...(kvmParams.length > 0 ? { kvmParams } : {}) };
}
