// The columns of a matrix run: every kernel build (a kernel with its own or replacement KVM modules)
// crossed with every combination of KVM module parameters. Repeated values of one parameter make one
// axis (kvm_amd.avic=0, kvm_amd.avic=1); each distinct parameter is another axis.

export interface KernelBuild {
  /** debian, debian:VERSION, a bzImage or a kernel tree, as the runner takes it. */
  kernel: string;
  /** A directory of kvm.ko / kvm-amd.ko / kvm-intel.ko, or undefined for the kernel's own. */
  kvmModules?: string | undefined;
}

export interface MatrixColumn extends KernelBuild {
  /** MODULE.PARAM=VALUE settings, one per parameter axis, in the order the axes were first named. */
  kvmParams: string[];
}

/** "kvm_amd.avic" of "kvm_amd.avic=1"; a RangeError names a setting of another shape. */
export function parameterName(setting: string): string {
  const match = /^([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)=/.exec(setting);
  if (!match) throw new RangeError(`a KVM module parameter is MODULE.PARAM=VALUE, got ${JSON.stringify(setting)}`);
  return match[1]!.replace(/-/g, '_');
}

/** The parameter axes: settings grouped by parameter, each axis in the order its values were given. */
export function parameterAxes(settings: readonly string[]): string[][] {
  const axes = new Map<string, string[]>();
  for (const setting of settings) {
    const name = parameterName(setting);
    const axis = axes.get(name) ?? [];
    if (!axis.includes(setting)) axis.push(setting);
    axes.set(name, axis);
  }
  return [...axes.values()];
}

/** Every build with every combination of one value per parameter axis, builds outermost. */
export function matrixColumns(builds: readonly KernelBuild[], settings: readonly string[]): MatrixColumn[] {
  let combinations: string[][] = [[]];
  for (const axis of parameterAxes(settings)) {
    combinations = combinations.flatMap((combination) => axis.map((setting) => [...combination, setting]));
  }
  return builds.flatMap((build) => combinations.map((kvmParams) => ({ ...build, kvmParams })));
}

/** "debian with KVM modules from DIR, kvm_amd.avic=0". */
export function describeColumn(column: MatrixColumn): string {
  const parts = [column.kvmModules ? `${column.kernel} with KVM modules from ${column.kvmModules}` : column.kernel];
  return [...parts, ...column.kvmParams].join(', ');
}

/** A, B, ..., Z, AA, AB, ...: short column names for the table's header. */
export function columnName(index: number): string {
  let name = '';
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
  return name;
}
