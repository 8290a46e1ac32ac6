import { readdir } from "node:fs/promises";
import path from "node:path";
import {
  acquireSlot,
  applyPatch,
  buildHyp,
  chooseBase,
  detectEra,
  HYP_TARGETS,
  type ApplyFailureKind,
  type BaseAttempt,
  type BuildConfigName,
  type Era,
  type HypBuildResult,
  type PatchInput,
  type Slot,
} from "../apply/index.js";
import {
  analyzeLegacyObjects,
  analyzeModernBuild,
  attributeFindings,
  readNvheAliases,
  type AttributedFinding,
  type Finding,
  type NvheAlias,
} from "../check/index.js";

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
}

export type BaseSource = BaseAttempt["source"] | "requested";

export interface CheckedPatch {
  index: number;
  id: string;
  subject: string;
  applied: boolean;
  failure: ApplyFailureKind | null;
}

/** A build that produced no verdict (it failed or timed out). */
export interface BuildProblem {
  config: BuildConfigName;
  /** 0 for the base, k after patch k. */
  step: number;
  timedOut: boolean;
  failedTargets: string[];
  logPath: string;
}

/** The `hypwatch check --json` shape (docs/json.md). */
export interface CheckResult {
  tree: {
    path: string;
    era: Era | null;
    baseCommit: string | null;
    baseChosenBy: BaseSource | null;
    attempts: BaseAttempt[];
  };
  series: { subject: string; version: number } | null;
  patches: CheckedPatch[];
  /** Audits report every finding of the tree (`introducedBy` 0); series checks only new ones. */
  findings: AttributedFinding[];
  configs: BuildConfigName[];
  buildProblems: BuildProblem[];
  timings: { totalMs: number; applyMs: number; buildMs: number; analyzeMs: number };
}

const DEFAULT_CONFIGS: readonly BuildConfigName[] = ["defconfig", "instrumented"];

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
  const slot = await acquireSlot(request.repo, request.base ?? request.baseCommit ?? null, {
    cacheDir: request.cacheDir,
  });
  try {
    const t0 = Date.now();
    const choice = await chooseBase(slot, request.patches, {
      baseCommit: request.base ?? request.baseCommit ?? null,
      candidates: request.base ? [] : (request.candidates ?? []),
    });
    timings.applyMs += Date.now() - t0;
    const chosen = choice.attempts.find((a) => a.outcome === "chosen");
    const result: CheckResult = {
      tree: {
        path: request.repo,
        era: null,
        baseCommit: choice.commit,
        baseChosenBy: chosen ? (request.base ? "requested" : chosen.source) : null,
        attempts: choice.attempts,
      },
      series: request.series ?? null,
      patches: request.patches.map((p, i) => ({
        index: i + 1,
        id: p.id,
        subject: p.subject,
        applied: false,
        failure: null,
      })),
      findings: [],
      configs: [...configs],
      buildProblems: [],
      timings,
    };
    if (choice.commit === null) {
      // No base takes the whole series: report how the first base failed, patch by patch.
      const first = choice.attempts.find((a) => a.outcome === "does-not-apply");
      const failed = result.patches.find((p) => p.id === first?.failure?.patchId);
      if (failed && first?.failure) failed.failure = first.failure.kind;
      return finish(result, started);
    }
    const era = await detectEra(slot.src);
    result.tree.era = era;

    const perConfig = new Map<BuildConfigName, Finding[][]>(configs.map((c) => [c, []]));
    const baseAliases = new Map<BuildConfigName, NvheAlias[]>();
    for (let step = 0; step <= request.patches.length; step++) {
      if (step > 0) {
        const patch = request.patches[step - 1] as CheckPatch;
        const t = Date.now();
        const applied = await applyPatch(slot.src, patch);
        timings.applyMs += Date.now() - t;
        const entry = result.patches[step - 1];
        if (entry) {
          entry.applied = applied.applied;
          entry.failure = applied.applied ? null : applied.kind;
        }
        if (!applied.applied) break;
      }
      for (const config of configs) {
        const t = Date.now();
        const build = await buildHyp(slot, config);
        timings.buildMs += Date.now() - t;
        const steps = perConfig.get(config) as Finding[][];
        if (!build.ok) {
          result.buildProblems.push(problem(build, step));
          // No verdict for this step: carry the previous findings so nothing is attributed to it.
          steps.push(steps[steps.length - 1] ?? []);
          continue;
        }
        const a = Date.now();
        if (step === 0 && era === "modern")
          baseAliases.set(config, await readNvheAliases(build.buildDir));
        steps.push(await analyze(era, slot, build, config, baseAliases.get(config)));
        timings.analyzeMs += Date.now() - a;
      }
    }
    result.findings = mergeConfigs(
      configs.map((c) => perConfig.get(c) ?? []),
      request.patches.length === 0,
    );
    return finish(result, started);
  } finally {
    await slot.release();
  }
}

function finish(result: CheckResult, started: number): CheckResult {
  result.timings.totalMs = Date.now() - started;
  return result;
}

function problem(build: HypBuildResult, step: number): BuildProblem {
  return {
    config: build.config,
    step,
    timedOut: build.timedOut,
    failedTargets: build.failedTargets,
    logPath: build.logPath,
  };
}

async function analyze(
  era: Era,
  slot: Slot,
  build: HypBuildResult,
  config: BuildConfigName,
  baseAliases: readonly NvheAlias[] | undefined,
): Promise<Finding[]> {
  if (era === "modern")
    return analyzeModernBuild({ srcDir: slot.src, buildDir: build.buildDir, config, baseAliases });
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
