import { readdir } from "node:fs/promises";
import path from "node:path";
import {
  baseBuildCurrent,
  BUILD_CONFIGS,
  buildSeries,
  configHash,
  detectEra,
  HYP_TARGETS,
  type BuildConfigName,
  type Era,
  type HypBuildResult,
  type PatchInput,
  type SeriesBuildStep,
  type Slot,
} from "../apply/index.js";
import {
  analyzeLegacyObjects,
  analyzeModernBuild,
  attributeFindings,
  bisectStep,
  groupByCause,
  readNvheAliases,
  type ChangedFile,
  type AttributedFinding,
  type Finding,
  ObjectMemo,
  type NvheAlias,
} from "../check/index.js";
import { compilerVersion, type KbuildLimits } from "../io/kbuild.js";
import { sandboxHost } from "../io/sandbox.js";
import { parseMail } from "../mail/index.js";
import type { BuildProblem, CheckResult } from "../shapes/check.js";
import { BaseCache } from "./base-cache.js";

export type { BaseSource, BuildProblem, CheckedPatch, CheckResult } from "../shapes/check.js";

/** One patch of the series to check, in series order. */
export interface CheckPatch extends PatchInput {
  subject: string;
}

export interface CheckRequest {
  /** The kernel git repository (see `ensureTree`). */
  repo: string;
  /** Empty: audit the base tree itself. */
  patches: CheckPatch[];
  series?: { subject: string; version: number } | null;
  /** The series' `base-commit:`, if it gave one. */
  baseCommit?: string | null;
  /** `--base`: check on exactly this revision. */
  base?: string | null;
  candidates?: readonly string[];
  configs?: readonly BuildConfigName[];
  cacheDir?: string;
  /**
   * Reuse the stored findings of a base this tree's checks already built (default true).
   * False builds and analyzes the base again.
   */
  reuseBase?: boolean;
  /** Bounds of each build (time per step, memory, processes, disk). */
  limits?: Partial<KbuildLimits>;
  /** Time bound of the whole check; builds after it are not run. */
  seriesTimeoutMs?: number;
  /** Configurations built at once, sharing the build's make jobs (default 1). */
  sideBySide?: number;
  /** Compile through Debian's ccache when it is installed (default false; `SlotPoolOptions`). */
  compilerCache?: boolean;
  /**
   * `final-first` (the default): the verdict comes from the base and the series' final
   * state; the patches between are built only when the final state has findings the base
   * has not, or a build failed, and then only as many as a bisection needs to say which
   * patch brought each in (`bisectStep`). `every`: every step in order, which also finds a
   * problem one patch brings in and a later one removes.
   */
  steps?: "final-first" | "every";
  /** Told what the check is doing, for a progress display; see `CheckProgress`. */
  onProgress?: (event: CheckProgress) => void;
}

/**
 * What a check is doing. `applying`: choosing a base and applying the series (and, the first
 * time, checking the tree out). Then, for each step (0: the base; k: after patch k) and
 * configuration, `building` as the build starts, `built` when its step's builds are done,
 * `analyzing` as its objects are read. `done` of `total` are builds of the plan (steps ×
 * configurations) finished or found not needed (a base already checked, a patch that
 * changes nothing the build reads).
 */
export type CheckProgress =
  | { phase: "applying"; patches: number }
  | ({ phase: "building" | "analyzing" } & CheckStepProgress)
  | ({ phase: "built"; ok: boolean; durationMs: number } & CheckStepProgress);

export interface CheckStepProgress {
  /** 0: the base; k: after patch k. */
  step: number;
  /** The patches + 1 (the base). */
  steps: number;
  config: BuildConfigName;
  done: number;
  total: number;
}

export const DEFAULT_CONFIGS: readonly BuildConfigName[] = ["defconfig", "instrumented"];

async function objectsUnder(root: string, dirs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of dirs) {
    const abs = path.join(root, dir);
    const entries = await readdir(abs, { recursive: true }).catch(() => [] as string[]);
    for (const entry of entries)
      if (entry.endsWith(".o") && !entry.endsWith(".mod.o")) out.push(path.join(dir, entry));
  }
  return out.sort();
}

/**
 * Check a series (or audit a tree): choose a base, build the hyp objects of the base and
 * after each patch in every configuration, analyze each build, and keep only the findings
 * the series introduces, each attributed to its patch.
 */
export async function checkSeries(request: CheckRequest): Promise<CheckResult> {
  const started = Date.now();
  const timings = { totalMs: 0, applyMs: 0, buildMs: 0, analyzeMs: 0 };
  const configs = request.configs ?? DEFAULT_CONFIGS;
  // A configuration whose compiler is missing, or a host where builds cannot be sandboxed,
  // fails here, before anything is applied.
  const compilers: Record<string, string> = {};
  for (const config of configs) {
    await configHash(config);
    compilers[config] = await compilerVersion(BUILD_CONFIGS[config].cc);
  }
  await sandboxHost(request.limits?.runAs);
  const result: CheckResult = {
    tree: {
      path: request.repo,
      era: null,
      baseCommit: null,
      baseChosenBy: null,
      attempts: [],
      baseReused: [],
    },
    series: request.series ?? null,
    patches: request.patches.map((p, i) => ({
      index: i + 1,
      id: p.id,
      subject: p.subject,
      applied: false,
      failure: null,
      changesHypBuild: null,
    })),
    findings: [],
    configs: [...configs],
    compilers,
    buildProblems: [],
    timings,
  };
  // Findings per configuration, indexed by step; a step whose build failed stays empty.
  const perConfig = new Map<BuildConfigName, (Finding[] | undefined)[]>(
    configs.map((c) => [c, []]),
  );
  const baseAliases = new Map<BuildConfigName, NvheAlias[]>();
  const baseCache = await BaseCache.forTree(request.repo, request.cacheDir);
  const memo = new ObjectMemo();
  const steps = request.patches.length + 1;
  const progress = (step: number, config: BuildConfigName, finished: boolean) => ({
    step,
    steps,
    config,
    done: finished ? (step + 1) * configs.length : step * configs.length + configs.indexOf(config),
    total: steps * configs.length,
  });

  const knownBase = async (commit: string, slot: Slot) => {
    const known = new Map<BuildConfigName, ReadonlySet<string>>();
    if (request.reuseBase === false) return known;
    for (const config of configs) {
      // A slot without a current base build of it (new, or its last base build stopped)
      // builds the base all the same, so that the series after this one start from it.
      if (!(await baseBuildCurrent(slot, config))) continue;
      const record = await baseCache.get(commit, config);
      if (!record) continue;
      result.tree.era ??= record.era;
      baseAliases.set(config, record.aliases);
      (perConfig.get(config) ?? [])[0] = record.findings;
      known.set(config, new Set(record.inputs));
    }
    result.tree.baseReused = [...known.keys()];
    return known;
  };

  const onStep = async (step: SeriesBuildStep, slot: Slot) => {
    const era = (result.tree.era ??= await detectEra(slot.src));
    const entry = result.patches[step.applied - 1];
    if (entry && step.patch) {
      entry.applied = step.patch.applied;
      entry.failure = step.patch.applied ? null : step.patch.kind;
      // Known only for a step built after the one before it, not for a final state first.
      entry.changesHypBuild = step.since === step.applied - 1 ? step.builds.length > 0 : null;
    }
    for (const build of step.builds) {
      timings.buildMs += build.durationMs;
      request.onProgress?.({
        phase: "built",
        ...progress(step.applied, build.config, true),
        ok: build.ok,
        durationMs: build.durationMs,
      });
      if (!build.ok) {
        result.buildProblems.push(problem(build, step.applied));
        continue;
      }
      const t = Date.now();
      request.onProgress?.({ phase: "analyzing", ...progress(step.applied, build.config, true) });
      if (step.applied === 0 && era === "modern")
        baseAliases.set(build.config, await readNvheAliases(build.buildDir));
      const aliases = baseAliases.get(build.config);
      const findings = await analyze(era, slot, build, aliases, memo);
      (perConfig.get(build.config) ?? [])[step.applied] = findings;
      const inputs = step.inputs.get(build.config);
      if (step.applied === 0 && inputs) {
        const record = { era, findings, aliases: aliases ?? [], inputs: [...inputs].sort() };
        await baseCache.put(build.head, build.config, record);
      }
      timings.analyzeMs += Date.now() - t;
    }
  };

  request.onProgress?.({ phase: "applying", patches: request.patches.length });
  const built = await buildSeries(request.repo, request.patches, {
    baseCommit: request.base ?? request.baseCommit ?? null,
    candidates: request.base ? [] : (request.candidates ?? []),
    configs,
    pool: {
      ...(request.cacheDir ? { cacheDir: request.cacheDir } : {}),
      ...(request.compilerCache ? { compilerCache: true } : {}),
    },
    ...(request.limits ? { limits: request.limits } : {}),
    ...(request.sideBySide ? { sideBySide: request.sideBySide } : {}),
    ...(request.seriesTimeoutMs !== undefined
      ? { deadline: started + request.seriesTimeoutMs }
      : {}),
    knownBase,
    onStep,
    ...(request.steps === "every"
      ? {}
      : {
          attributeAfter: (final: SeriesBuildStep) => needsSteps(final, perConfig),
          nextStep: (built: ReadonlySet<number>, final: number) =>
            bisectStep(built, final, (step) => stepHas(step, perConfig, result.buildProblems)),
        }),
    onBuild: (step, config) =>
      request.onProgress?.({ phase: "building", ...progress(step, config, false) }),
  });
  const chosen = built.base.attempts.find((a) => a.outcome === "chosen");
  result.tree.baseCommit = built.base.commit;
  result.tree.baseChosenBy = chosen ? (request.base ? "requested" : chosen.source) : null;
  result.tree.attempts = built.base.attempts;
  if (built.base.commit === null) {
    // No base takes the whole series: say which patch failed on the first base, and why.
    const first = built.base.attempts.find((a) => a.outcome === "does-not-apply");
    const failed = result.patches.find((p) => p.id === first?.failure?.patchId);
    if (failed && first?.failure) failed.failure = first.failure.kind;
  }
  for (const patch of built.apply?.patches ?? []) {
    const entry = result.patches.find((p) => p.id === patch.id);
    if (entry) {
      entry.applied = patch.applied;
      entry.failure = patch.applied ? null : patch.kind;
    }
  }
  const attributed = mergeConfigs(
    configs.map((c) => carryForward(perConfig.get(c) ?? [])),
    request.patches.length === 0,
  );
  const final = Math.max(0, ...built.steps.map((s) => s.applied));
  const skipped = bisected(built.steps, final);
  if (skipped) result.buildProblems = finalProblems(result.buildProblems, final);
  const grouped = groupByCause(
    // What came and went between two built steps is not pinned to its patches.
    skipped ? attributed.filter((f) => f.fixedBy === null) : attributed,
    await patchDiffs(request.patches),
  );
  result.findings = grouped.findings;
  result.causes = grouped.causes;
  timings.totalMs = Date.now() - started;
  timings.applyMs = Math.max(0, timings.totalMs - timings.buildMs - timings.analyzeMs);
  return result;
}

/**
 * Whether a series' final state needs its steps built to be attributed: a build of it
 * failed, or in some configuration it has a finding its base has not.
 */
function needsSteps(
  final: SeriesBuildStep,
  perConfig: ReadonlyMap<BuildConfigName, readonly (Finding[] | undefined)[]>,
): boolean {
  if (final.builds.some((b) => !b.ok)) return true;
  return [...perConfig.values()].some((steps) => {
    const base = new Set((steps[0] ?? []).map((f) => f.key));
    return (steps[final.applied] ?? []).some((f) => !base.has(f.key));
  });
}

/**
 * Whether a bisection left steps between the base and the final state unbuilt. Its result
 * then keeps only what the final state has: a finding or failed build that a patch brings
 * in and a later one removes, seen between two built steps, cannot be pinned to either
 * patch. Building every step (the service's steps job) reports those.
 */
function bisected(steps: readonly SeriesBuildStep[], final: number): boolean {
  const between = new Set(steps.map((s) => s.applied).filter((k) => k > 0 && k < final));
  return between.size < final - 1;
}

/** Build problems of the base, and of configurations whose final state does not build. */
function finalProblems(problems: readonly BuildProblem[], final: number): BuildProblem[] {
  const failing = new Set(problems.filter((p) => p.step === final).map((p) => p.config));
  return problems.filter((p) => p.step === 0 || failing.has(p.config));
}

/**
 * What a built step has in every configuration: each finding (a configuration not built at
 * that step has the findings of the step below it) and each build that failed.
 */
function stepHas(
  step: number,
  perConfig: ReadonlyMap<BuildConfigName, readonly (Finding[] | undefined)[]>,
  problems: readonly BuildProblem[],
): Set<string> {
  const has = new Set<string>();
  for (const [config, steps] of perConfig)
    for (const f of carryForward(steps)[step] ?? []) has.add(`${config}|${f.key}`);
  for (const p of problems) if (p.step === step) has.add(`${p.config}|build failed`);
  return has;
}

/**
 * A step without a verdict (its build failed) takes the findings of the step before it, so
 * that nothing is attributed to it.
 */
function carryForward(steps: readonly (Finding[] | undefined)[]): Finding[][] {
  const out: Finding[][] = [];
  for (let i = 0; i < steps.length; i++) out.push(steps[i] ?? out[i - 1] ?? []);
  return out;
}

/** Each patch's diff, for the lines that caused findings; undefined for one that does not parse. */
async function patchDiffs(patches: readonly CheckPatch[]): Promise<(ChangedFile[] | undefined)[]> {
  return Promise.all(
    patches.map(async (p) => {
      const raw = typeof p.mail === "string" ? Buffer.from(p.mail) : p.mail;
      const mail = await parseMail({ raw, origin: p.id }).catch(() => null);
      return mail?.patch?.files;
    }),
  );
}

function problem(build: HypBuildResult, step: number): BuildProblem {
  return {
    config: build.config,
    step,
    timedOut: build.timedOut,
    bound: build.bound,
    failedTargets: build.failedTargets,
    logPath: build.logPath,
  };
}

async function analyze(
  era: Era,
  slot: Slot,
  build: HypBuildResult,
  baseAliases: readonly NvheAlias[] | undefined,
  memo: ObjectMemo,
): Promise<Finding[]> {
  const config = build.config;
  if (era === "modern") {
    const { buildDir } = build;
    return analyzeModernBuild({ srcDir: slot.src, buildDir, config, baseAliases, memo });
  }
  const dirs = HYP_TARGETS.legacy.map((t) => (t.endsWith("/") ? t : path.dirname(t)));
  return analyzeLegacyObjects({
    objects: await objectsUnder(build.buildDir, dirs),
    cwd: build.buildDir,
    srcDir: slot.src,
    config,
  });
}

/**
 * Attribute each configuration's findings to patches, then keep one finding per key: a
 * problem both configurations see is reported once, from the plain configuration.
 * An audit (no patches) reports everything the tree has, as introduced by step 0.
 */
function mergeConfigs(perConfig: Finding[][][], audit: boolean): AttributedFinding[] {
  const seen = new Set<string>();
  const out: AttributedFinding[] = [];
  for (const steps of perConfig) {
    const attributed = audit
      ? (steps[0] ?? []).map((f) => ({ ...f, introducedBy: 0, fixedBy: null }))
      : attributeFindings(steps);
    for (const f of attributed) {
      const id = `${f.key}@${f.introducedBy}`;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push(f);
    }
  }
  return out.sort((a, b) => a.introducedBy - b.introducedBy || a.key.localeCompare(b.key));
}
