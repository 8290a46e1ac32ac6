/**
 * Kernel trees, isolated worktrees, applying series and sandboxed hyp builds: everything up
 * to "the hyp objects of base and of base+patch 1..k are built".
 */
export {
  ensureTree,
  prepareDebianLinuxSource,
  cacheRoot,
  dropDebianGitignoreBlock,
} from "./tree.js";
export type { TreeConfig, PrepareOptions } from "./tree.js";
export { acquireSlot, resetSlot, checkoutInSlot, poolDir } from "./slots.js";
export type { Slot, SlotPoolOptions } from "./slots.js";
export { resolveBases, chooseBase } from "./base.js";
export type { AppliedBaseChoice, BaseOptions } from "./base.js";
export { applyPatch, applySeries } from "./am.js";
export { classifyAmFailure } from "./classify.js";
export type { AmDiagnostics } from "./classify.js";
export { detectEra, HYP_TARGETS } from "./era.js";
export {
  baseBuildCurrent,
  buildHyp,
  BUILD_CONFIGS,
  CompilerMissingError,
  configHash,
  enabledOptions,
  endSeriesArea,
  failedMakeTargets,
  startSeriesArea,
} from "./build.js";
export type { BuildOptions } from "./build.js";
export * from "./types.js";
export { buildSeries, buildSeriesInSlot } from "./series.js";
export type { SeriesBuildOptions, SeriesBuildResult, SeriesBuildStep } from "./series.js";
