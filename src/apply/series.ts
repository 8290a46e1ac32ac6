import { DEFAULT_LIMITS, type KbuildLimits } from "../io/kbuild.js";
import { chooseBase, type BaseOptions } from "./base.js";
import {
  baseBuiltFrom,
  buildHyp,
  endSeriesArea,
  startSeriesArea,
  type BuildArea,
} from "./build.js";
import { buildInputs, changedFiles, changesBuild } from "./inputs.js";
import { acquireSlot, checkoutInSlot, type Slot, type SlotPoolOptions } from "./slots.js";
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
  /**
   * The step this one's builds follow and were compared with: `applied - 1`, or 0 for the
   * final state built right after the base (`attributeAfter`).
   */
  since: number;
  /** The patch applied last (null for the base). */
  patch: PatchApplyResult | null;
  builds: HypBuildResult[];
  /**
   * Configurations not built at this step because the patch changes no file their previous
   * build read: their objects, and so their findings, are those of the step before.
   */
  unchanged: BuildConfigName[];
  /**
   * The tree files each configuration built at this step read (builds that succeeded), for
   * the step after it. Not read for the last step built, nor for a final state built first
   * (`attributeAfter`): no step is compared with them.
   */
  inputs: Map<BuildConfigName, ReadonlySet<string>>;
}

export interface SeriesBuildOptions extends BaseOptions {
  configs: readonly BuildConfigName[];
  pool?: SlotPoolOptions;
  limits?: Partial<KbuildLimits>;
  /**
   * Called once the base is chosen: the configurations whose base build the caller already
   * knows the outcome of (say, from an earlier check on the same base), each with the tree
   * files that build read (a step's `inputs`). Their base is not built; when that is every
   * configuration, step 0 is skipped and `onStep` is not called for it. Make's own
   * dependency tracking keeps the following steps right either way. Name only those whose
   * base build directory in `slot` is current (`baseBuildCurrent`): the series area is a
   * copy of it, and a copy of nothing builds every object, for every series, until the
   * base is built in that slot.
   */
  knownBase?: (
    commit: string,
    slot: Slot,
  ) => Promise<ReadonlyMap<BuildConfigName, ReadonlySet<string>>>;
  /**
   * Called after each step's builds, while the slot is still held: the build directories
   * hold that step's objects only until the next step rebuilds them.
   */
  onStep?: (step: SeriesBuildStep, slot: Slot) => Promise<void>;
  /** Called as each build starts (a progress display): the step (0: base) and configuration. */
  onBuild?: (applied: number, config: BuildConfigName) => void;
  /** Build every step, even those whose patch changes nothing the hyp build reads. */
  everyStep?: boolean;
  /**
   * Verdict first: build the series' final state right after the base, then ask whether
   * its steps are wanted (say, only when the final state has findings the base has not).
   * When it answers false, the patches between are not built: a series that ends clean is
   * judged on two states whatever its length. Unset: every step, in order.
   */
  attributeAfter?: (final: SeriesBuildStep) => boolean | Promise<boolean>;
  /**
   * With `attributeAfter`: which step to build next once the final state wants its steps,
   * given the steps built so far (the base 0 and the final state `final` included), or null
   * when the attribution needs no more. Each step is compared with the nearest step below
   * it that was built. Unset: every step between, in order.
   */
  nextStep?: (built: ReadonlySet<number>, final: number) => number | null;
  /** Epoch ms after which no build starts, and running ones are stopped (`series-time`). */
  deadline?: number;
  /** Configurations built at once in a step (`sideBySide`); default 1, one after another. */
  sideBySide?: number;
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
  await startSeriesArea(slot);
  try {
    return await buildSteps(slot, patches, opts);
  } finally {
    await endSeriesArea(slot);
  }
}

/**
 * Build `configs`, up to `atOnce` of them side by side, sharing the make jobs of one build
 * between them (two configurations at once on `-j2` build with `-j1` each): what make does
 * on one core (reading the Makefiles, the final links) overlaps with the other build. The
 * results come back in the order of `configs`.
 */
export async function sideBySide(
  configs: readonly BuildConfigName[],
  atOnce: number,
  build: (config: BuildConfigName, limits: Partial<KbuildLimits>) => Promise<HypBuildResult>,
  limits: Partial<KbuildLimits> = {},
): Promise<HypBuildResult[]> {
  const width = Math.max(1, Math.min(atOnce, configs.length));
  const jobs = Math.max(1, Math.floor((limits.jobs ?? DEFAULT_LIMITS.jobs ?? 2) / width));
  const shared = width > 1 ? { ...limits, jobs } : limits;
  const results: HypBuildResult[] = [];
  for (let i = 0; i < configs.length; i += width)
    results.push(...(await Promise.all(configs.slice(i, i + width).map((c) => build(c, shared)))));
  return results;
}

/**
 * The base builds in the slot's own build directories (trusted code only); every patched
 * step in the series area, a copy of them that is thrown away afterwards.
 */
async function buildSteps(
  slot: Slot,
  patches: readonly PatchInput[],
  opts: Omit<SeriesBuildOptions, "pool">,
): Promise<SeriesBuildResult> {
  const { apply, ...base } = await chooseBase(slot, patches, opts);
  if (base.commit === null || apply === null) return { base, apply: null, steps: [] };
  const steps: SeriesBuildStep[] = [];
  // What each configuration's last good build read by step (0: the base); a step changing
  // none of it is not built.
  const stepInputs = new Map<number, Map<BuildConfigName, ReadonlySet<string>>>();
  const step = async (
    applied: number,
    since: number,
    patch: PatchApplyResult | null,
    configs: readonly BuildConfigName[],
    changed: readonly string[] | null,
    readInputs = true,
  ) => {
    const before = stepInputs.get(since);
    const read = new Map<BuildConfigName, ReadonlySet<string>>();
    const unchanged = configs.filter((config) => {
      const files = before?.get(config);
      return changed && files && !opts.everyStep && !changesBuild(changed, files);
    });
    const area: BuildArea = applied === 0 ? "base" : "series";
    const builds = await sideBySide(
      configs.filter((c) => !unchanged.includes(c)),
      opts.sideBySide ?? 1,
      (config, limits) => {
        opts.onBuild?.(applied, config);
        return buildHyp(slot, config, {
          area,
          limits,
          ...(opts.deadline !== undefined ? { deadline: opts.deadline } : {}),
        });
      },
      opts.limits,
    );
    if (readInputs) {
      // Unchanged configurations read what they read before.
      const inputs = new Map(before);
      for (const build of builds) {
        if (build.ok) {
          const files = await buildInputs(build.buildDir, slot.src);
          read.set(build.config, files);
          inputs.set(build.config, files);
        } else {
          inputs.delete(build.config);
        }
      }
      stepInputs.set(applied, inputs);
    }
    const done = { applied, since, patch, builds, unchanged, inputs: read };
    steps.push(done);
    if (opts.onStep) await opts.onStep(done, slot);
  };
  const known = (await opts.knownBase?.(base.commit, slot)) ?? new Map();
  stepInputs.set(0, new Map(known));
  const baseConfigs = opts.configs.filter((c) => !known.has(c));
  // chooseBase left the slot at the series' last commit, so each step is a checkout of its
  // commit (nothing is applied twice), and none where the slot already is.
  const last = apply.patches.at(-1);
  let at = last?.applied ? last.commit : null;
  const moveTo = async (commit: string) => {
    if (at !== commit) await checkoutInSlot(slot, commit);
    at = commit;
  };
  if (baseConfigs.length > 0) {
    // Back from the series chooseBase applied: the base builds may keep their objects.
    await checkoutInSlot(slot, base.commit, {
      asBuilt: (await baseBuiltFrom(slot)) === base.commit,
    });
    at = base.commit;
    await step(0, 0, null, baseConfigs, null);
  }
  const failed = apply.patches.findIndex((p) => !p.applied);
  const good = (failed < 0 ? apply.patches : apply.patches.slice(0, failed)).filter(
    (p) => p.applied,
  );
  const commitOf = (applied: number) => (applied === 0 ? base.commit : good[applied - 1]?.commit);
  /** Build step `applied`, compared with step `since`. */
  const buildStep = async (applied: number, since: number, readInputs: boolean) => {
    const commit = commitOf(applied);
    const from = commitOf(since);
    if (!commit || !from) return;
    await moveTo(commit);
    const changed = await changedFiles(slot.src, from, commit);
    await step(applied, since, good[applied - 1] ?? null, opts.configs, changed, readInputs);
  };
  const final = good.length;
  if (opts.attributeAfter && final > 1) {
    await buildStep(final, 0, false);
    const finalStep = steps[steps.length - 1];
    if (finalStep && !(await opts.attributeAfter(finalStep))) return { base, apply, steps };
    if (opts.nextStep) {
      // The steps the caller asks for (a bisection), each compared with the nearest built
      // step below it.
      const built = new Set([0, final]);
      const next = () => opts.nextStep?.(built, final) ?? null;
      for (let wanted = next(); wanted !== null; wanted = next()) {
        if (built.has(wanted) || wanted <= 0 || wanted >= final) break;
        const below = Math.max(...[...built].filter((k) => k < wanted));
        await buildStep(wanted, below, true);
        built.add(wanted);
      }
      return { base, apply, steps };
    }
    // The steps between, in order, each compared with the one before it (the base first).
    for (let applied = 1; applied < final; applied++)
      await buildStep(applied, applied - 1, applied < final - 1);
    return { base, apply, steps };
  }
  for (let applied = 1; applied <= final; applied++)
    await buildStep(applied, applied - 1, applied < final);
  return { base, apply, steps };
}
