import type {
  ApplyFailureKind,
  BaseAttempt,
  BuildConfigName,
  Era,
  HypBuildResult,
} from "../apply/index.js";
import type { AttributedFinding, Cause } from "../check/index.js";

/*
 * The `hypwatch check --json` shape (docs/json.md): what the checker produces and every
 * renderer (text, replies, issues) reads.
 */

export type BaseSource = BaseAttempt["source"] | "requested";

export interface CheckedPatch {
  index: number;
  id: string;
  subject: string;
  applied: boolean;
  failure: ApplyFailureKind | null;
  /**
   * False when the patch changes no file the hyp objects were built from (nothing was
   * rebuilt for it); null when it was not applied, or not built on its own (a series judged
   * on its final state: no patch of it introduced a finding).
   */
  changesHypBuild: boolean | null;
}

/** A build that produced no verdict (it failed or timed out). */
export interface BuildProblem {
  config: BuildConfigName;
  /** 0 for the base, k after patch k. */
  step: number;
  timedOut: boolean;
  /** The bound that stopped it (`time`, `memory`, `processes`, `disk-bytes`, ...), if any. */
  bound: HypBuildResult["bound"];
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
    /** Configurations whose base findings came from an earlier check of the same base. */
    baseReused: BuildConfigName[];
  };
  series: { subject: string; version: number } | null;
  patches: CheckedPatch[];
  /** Audits report every finding of the tree (`introducedBy` 0); series checks only new ones. */
  findings: AttributedFinding[];
  /**
   * The findings grouped by what caused them (a patch line, a Makefile line, an alias, a
   * linker-script line); each finding's `cause` names its entry. Older results: absent.
   */
  causes?: Cause[];
  configs: BuildConfigName[];
  /** Each configuration's compiler, as its `--version` names it (older results: absent). */
  compilers?: Partial<Record<BuildConfigName, string>>;
  buildProblems: BuildProblem[];
  /** `applyMs` is everything but building and analysis: slot, base choice, `git am`. */
  timings: { totalMs: number; applyMs: number; buildMs: number; analyzeMs: number };
}
