import type { BuildConfigName } from "../apply/index.js";
import type { Config } from "../config.js";
import { HypwatchError } from "../errors.js";
import type { CheckResult } from "../shapes/check.js";
import type { StateStore } from "../state/store.js";
import type { RequestedBy, Revision, Superseder, Verdict, VerdictKind } from "../state/types.js";
import { checkSeries, type CheckPatch, type CheckRequest } from "./check.js";
import type { CheckJobData } from "./revisions.js";
import { checkRequest } from "./select.js";

/** The revision or one of its mails is not in the store: the job names something never stored. */
export class RevisionMissingError extends HypwatchError {
  readonly kind = "permanent";
}

/** The tree a list's series are checked on, and its base candidates (fetched when due). */
export interface ListTree {
  repo: string;
  candidates: readonly string[];
}

export interface CheckRevisionDeps {
  store: StateStore;
  config: Pick<Config, "cacheDir" | "build">;
  configs: readonly BuildConfigName[];
  /** `analyzerFingerprint()`, part of the check key. */
  analyzer: string;
  treeFor: (list: string) => Promise<ListTree>;
  clock?: () => number;
  /** The checker; `checkSeries` unless a test of the queues stands in for the compiler. */
  check?: (request: CheckRequest) => Promise<CheckResult>;
}

/** What a verdict is of: the check, its revision, who asked for it, when it was decided. */
export interface VerdictOrigin {
  checkKey: string;
  revision: Pick<Revision, "key" | "list" | "series" | "lastArrivedAt">;
  analyzer: string;
  recordedAt: number;
  requestedBy?: RequestedBy | undefined;
}

/** A verdict of `kind` on a revision, as the store keeps it. */
export function newVerdict(
  origin: VerdictOrigin,
  kind: VerdictKind,
  reason: string | null,
  result: CheckResult | null,
): Verdict {
  const { revision, recordedAt } = origin;
  const { series } = revision;
  return {
    checkKey: origin.checkKey,
    revision: revision.key,
    list: revision.list,
    seriesId: series.id,
    subject: series.subject,
    version: series.version,
    partial: !series.complete,
    kind,
    reason,
    result,
    analyzer: origin.analyzer,
    recordedAt,
    latencyMs: Math.max(0, recordedAt - revision.lastArrivedAt),
    requestedBy: origin.requestedBy ?? null,
  };
}

/** The verdict a check result amounts to, and for build problems the bound or problem. */
export function classifyResult(result: CheckResult): { kind: VerdictKind; reason: string | null } {
  if (result.tree.baseCommit === null) {
    const failures = result.tree.attempts.filter((a) => a.outcome === "does-not-apply");
    if (failures.length === 0) return { kind: "no-base", reason: null };
    if (failures.every((a) => a.failure?.kind === "already-applied"))
      return { kind: "already-applied", reason: null };
    return { kind: "does-not-apply", reason: failures[0]?.failure?.kind ?? null };
  }
  if (result.findings.length > 0) return { kind: "findings", reason: null };
  const stopped = result.buildProblems.find((p) => p.timedOut || p.bound !== null);
  if (stopped) return { kind: "timed-out", reason: stopped.bound ?? "time" };
  const failed = result.buildProblems[0];
  if (failed)
    return {
      kind: "build-failed",
      reason: `${failed.config} after patch ${failed.step}: ${failed.failedTargets.length} targets failed`,
    };
  return { kind: "clean", reason: null };
}

/** What a superseded check's verdict says: which revision took its place. */
export function supersededReason(by: Superseder): string {
  return `superseded by <${by.seriesId}> v${by.version}`;
}

export interface CheckedRevision {
  verdict: Verdict;
  /** This run stored the verdict (false: another run of the same check had). */
  recorded: boolean;
}

/** Store a verdict once: this one, or the one another run of the same check stored first. */
async function record(store: StateStore, verdict: Verdict): Promise<CheckedRevision> {
  if (await store.recordVerdict(verdict)) return { verdict, recorded: true };
  return { verdict: (await store.verdict(verdict.checkKey)) ?? verdict, recorded: false };
}

/** The verdict of a check its revision is no longer checked for, naming what superseded it. */
function supersededVerdict(
  deps: Pick<CheckRevisionDeps, "analyzer" | "clock">,
  job: CheckJobData,
  revision: Revision,
  by: Superseder,
): Verdict {
  const recordedAt = (deps.clock ?? Date.now)();
  return newVerdict(
    { ...job, revision, analyzer: deps.analyzer, recordedAt },
    "superseded",
    supersededReason(by),
    null,
  );
}

/**
 * Store the `superseded` verdict of a check stopped while it ran (its process and builds
 * killed): never reported, and a run of the same check later finds it and does nothing.
 */
export async function recordStoppedCheck(
  deps: Pick<CheckRevisionDeps, "store" | "analyzer" | "clock">,
  job: CheckJobData,
  by: Superseder,
): Promise<CheckedRevision> {
  const revision = await deps.store.revision(job.revision);
  if (!revision) throw new RevisionMissingError(`revision ${job.revision} is not in the store`);
  const marked = await deps.store.supersededBy(job.checkKey);
  return record(deps.store, supersededVerdict(deps, job, revision, marked ?? by));
}

/** The check of a revision as `checkSeries` takes it: its patches from the store, its tree. */
async function revisionRequest(
  deps: CheckRevisionDeps,
  revision: Revision,
  base: string | null,
): Promise<CheckRequest> {
  const { series } = revision;
  const patches: CheckPatch[] = [];
  for (const patch of series.patches) {
    const mail = await deps.store.rawMail(patch.messageId);
    if (!mail)
      throw new RevisionMissingError(
        `patch <${patch.messageId}> of revision ${revision.key} is not in the store`,
      );
    patches.push({ id: patch.messageId, subject: patch.subject, mail });
  }
  const tree = await deps.treeFor(revision.list);
  return checkRequest(
    tree.repo,
    { series, patches, baseCommit: revision.baseCommit },
    { ...deps.config, baseCandidates: [...tree.candidates] },
    { configs: deps.configs, base },
  );
}

/**
 * Check one revision, given only its check key and revision key: its patches come from the
 * store, so any worker machine can run it. The verdict is stored once per check key with
 * its outbox entry; running the job again returns the stored verdict and does nothing else.
 * A check whose revision was superseded before it started or while it ran stores a
 * `superseded` verdict naming the newer revision, which is never reported.
 */
export async function checkRevision(
  deps: CheckRevisionDeps,
  job: CheckJobData,
): Promise<CheckedRevision> {
  const { store } = deps;
  const now = deps.clock ?? Date.now;
  const stored = await store.verdict(job.checkKey);
  if (stored) return { verdict: stored, recorded: false };
  await store.countRun(job.checkKey);
  const revision = await store.revision(job.revision);
  if (!revision) throw new RevisionMissingError(`revision ${job.revision} is not in the store`);
  const superseded = () => store.supersededBy(job.checkKey);

  const before = await superseded();
  if (before) return record(store, supersededVerdict(deps, job, revision, before));
  const request = await revisionRequest(deps, revision, job.base ?? null);
  const result = await (deps.check ?? checkSeries)(request);
  const after = await superseded();
  if (after) return record(store, supersededVerdict(deps, job, revision, after));
  const { kind, reason } = classifyResult(result);
  return record(
    store,
    newVerdict(
      { ...job, revision, analyzer: deps.analyzer, recordedAt: now() },
      kind,
      reason,
      result,
    ),
  );
}

/**
 * Whether a verdict leaves steps of its series unbuilt: it chose a base and built the final
 * state, and a patch before the last was not built on the one before it (a final state with
 * no new findings is not bisected). Such a series may hold a problem one patch brings in
 * and a later one removes: `checkSteps` builds every step to find it.
 */
export function stepsDue(verdict: Pick<Verdict, "kind" | "result">): boolean {
  const { result } = verdict;
  if (!result || result.tree.baseCommit === null) return false;
  if (verdict.kind !== "clean" && verdict.kind !== "findings") return false;
  return result.patches.slice(0, -1).some((p) => p.changesHypBuild === null);
}

/**
 * What building every step adds to a verdict: the causes a patch brings in and a later
 * patch removes (each with its findings), and builds that failed after a patch before the
 * last. Causes the final state keeps are the verdict's own, reported with it.
 */
export function transientPart(result: CheckResult): CheckResult {
  const causes = (result.causes ?? []).filter((c) => c.fixedBy !== null);
  const kept = new Set(causes.map((c) => c.id));
  const last = result.patches.length;
  return {
    ...result,
    causes,
    findings: result.findings.filter((f) => f.fixedBy !== null && kept.has(f.cause ?? "")),
    buildProblems: result.buildProblems.filter((p) => p.step > 0 && p.step < last),
  };
}

export interface CheckedSteps {
  /** The steps verdict stored for the check, or null when its steps are not to be built. */
  steps: Verdict | null;
  /** This run stored it. */
  recorded: boolean;
}

/**
 * Build every patch of a checked revision in turn on the base its verdict chose, and store
 * what that adds (`transientPart`) as the check's steps verdict, once; with findings, it
 * goes to the outbox (`steps:<check key>`) to be answered under the patch that brings them
 * in. Nothing is done for a check without a verdict that needs it (`stepsDue`) or whose
 * revision was superseded.
 */
export async function checkSteps(
  deps: CheckRevisionDeps,
  job: Pick<CheckJobData, "checkKey" | "revision">,
): Promise<CheckedSteps> {
  const { store } = deps;
  const now = deps.clock ?? Date.now;
  const stored = await store.steps(job.checkKey);
  if (stored) return { steps: stored, recorded: false };
  const verdict = await store.verdict(job.checkKey);
  const base = verdict?.result?.tree.baseCommit;
  if (!verdict || !base || !stepsDue(verdict)) return { steps: null, recorded: false };
  if (await store.supersededBy(job.checkKey)) return { steps: null, recorded: false };
  const revision = await store.revision(job.revision);
  if (!revision) throw new RevisionMissingError(`revision ${job.revision} is not in the store`);
  const request = await revisionRequest(deps, revision, base);
  const result = await (deps.check ?? checkSeries)({ ...request, steps: "every" });
  if (await store.supersededBy(job.checkKey)) return { steps: null, recorded: false };
  const transient = transientPart(result);
  // Steps stopped at a bound did not all build: they are not "nothing more".
  const stopped = result.buildProblems.find((p) => p.timedOut || p.bound !== null);
  const failed = transient.buildProblems[0];
  const [kind, reason]: [VerdictKind, string | null] = transient.causes?.length
    ? ["findings", null]
    : stopped
      ? ["timed-out", stopped.bound ?? "time"]
      : failed
        ? ["build-failed", `${failed.config} after patch ${failed.step}`]
        : ["clean", null];
  const steps = newVerdict(
    { ...job, revision, analyzer: deps.analyzer, recordedAt: now() },
    kind,
    reason,
    transient,
  );
  if (await store.recordSteps(steps)) return { steps, recorded: true };
  return { steps: (await store.steps(job.checkKey)) ?? steps, recorded: false };
}
