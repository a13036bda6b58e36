// lib/kbuild: KVM modules built out of tree for Debian's 6.12 kernels, to try a kernel fix in a minute.
export { buildKvmModules, type BuildOptions, type BuiltModules } from './build';
export { KVM_MODULES } from '../debian/kernel';
export { BuildError, PatchError, checkPatchFiles } from './kvm-source';
export { upstreamShinfoTest, upstreamShinfoTestForGuest } from './upstream-selftest';
export { checkpatch, checkpatchTree, type CheckpatchResult } from './checkpatch';
export { ensureKbuildTools, KBUILD_TOOLS } from './toolchain';
export { KvmBuildTree, type TreeBuild } from './tree';
