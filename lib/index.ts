// kvm-xen: the library's public API in one import.
export * from './kvm';
export * from './guest';
export * from './xen';
export * from './vm';
export * from './vmm';
export { buildKernelTree, buildKvmModules, BuildError, KVM_MODULES, type BuildOptions, type BuiltModules, type BuiltTree, type TreeOptions } from './kbuild';
export { DEFAULT_KERNEL } from './debian/kernel';
export type { OnProgress, ProgressEvent } from './progress';
