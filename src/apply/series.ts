import type { KbuildLimits } from "../io/kbuild.js";
import { applySeries } from "./am.js";
import { chooseBase, type BaseOptions } from "./base.js";
import { buildHyp } from "./build.js";
import { acquireSlot, type Slot, type SlotPoolOptions } from "./slots.js";
import type {
  BaseChoice,
  BuildConfigName,
  HypBuildResult,
  PatchApplyResult,
  PatchInput,
  SeriesApplyResult,
} from "./types.js";

/** One built state of the series: the base (`applied` 0) or base + patches 1..`applied`. */
export interface SeriesBuildStep {
  applied: number;
  /** The patch applied last (null for the base). */
  patch: PatchApplyResult | null;
  builds: HypBuildResult[];
}

export interface SeriesBuildOptions extends BaseOptions {
  configs: readonly BuildConfigName[];
  pool?: SlotPoolOptions;
  limits?: Partial<KbuildLimits>;
  /**
   * Called after each step's builds, while the slot is still held: the build directories
   * hold that step's objects only until the next step rebuilds them.
   */
  onStep?: (step: SeriesBuildStep, slot: Slot) => Promise<void>;
}

export interface SeriesBuildResult {
  base: BaseChoice;
  /** Applying on the chosen base; null when no base took the series. */
  apply: SeriesApplyResult | null;
  steps: SeriesBuildStep[];
}

/**
 * Choose a base for the series, build the hyp objects of the base and then of base+1..k
 * after each patch, in every configuration, in a slot of `repo`'s pool. When no base takes
 * the whole series nothing is built; `base.attempts` says why.
 */
export async function buildSeries(
  repo: string,
  patches: readonly PatchInput[],
  opts: SeriesBuildOptions,
): Promise<SeriesBuildResult> {
  const slot = await acquireSlot(repo, opts.baseCommit ?? null, opts.pool);
  try {
    return await buildSeriesInSlot(slot, patches, opts);
  } finally {
    await slot.release();
  }
}

/** `buildSeries` in a slot the caller already holds (and keeps). */
export async function buildSeriesInSlot(
  slot: Slot,
  patches: readonly PatchInput[],
  opts: Omit<SeriesBuildOptions, "pool">,
): Promise<SeriesBuildResult> {
  const base = await chooseBase(slot, patches, opts);
  if (base.commit === null) return { base, apply: null, steps: [] };
  const steps: SeriesBuildStep[] = [];
  const step = async (applied: number, patch: PatchApplyResult | null) => {
    const builds: HypBuildResult[] = [];
    for (const config of opts.configs)
      builds.push(await buildHyp(slot, config, { limits: opts.limits }));
    const done = { applied, patch, builds };
    steps.push(done);
    if (opts.onStep) await opts.onStep(done, slot);
  };
  await step(0, null);
  const apply = await applySeries(slot.src, patches, (result, index) => step(index + 1, result));
  return { base, apply, steps };
}
