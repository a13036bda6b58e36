// lib/kbuild: KVM modules built out of tree for Debian's 6.12 kernels (or a built kernel tree), to try
// a kernel fix in a minute; and a small kernel tree from Debian's sources.
export { buildKvmModules, type BuildOptions, type BuiltModules } from './build';
export { KVM_MODULES } from '../debian/kernel';
export { BuildError, PatchError, checkPatchFiles } from './kvm-source';
export { upstreamShinfoTest, upstreamShinfoTestForGuest } from './upstream-selftest';
export { checkpatch, checkpatchTree, type CheckpatchResult } from './checkpatch';
export { ensureKbuildTools, KBUILD_TOOLS, TREE_BUILD_TOOLS, TREE_MODULE_TOOLS } from './toolchain';
export { buildKernelTree, TREE_CONFIG_FRAGMENT, type BuiltTree, type TreeOptions } from './tree';
export { PatchSeriesBuilder, type SeriesOptions } from './series';
export { KvmBuildTree, type TreeBuild } from './kept-tree';
