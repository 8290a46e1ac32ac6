import { git, resolveCommit } from "../io/git.js";
import { applySeries } from "./am.js";
import { baseBuiltFrom } from "./build.js";
import { resetSlot, type Slot } from "./slots.js";
import type { BaseAttempt, BaseChoice, PatchInput, SeriesApplyResult } from "./types.js";

export interface BaseOptions {
  /** The series' `base-commit:` (from the cover letter or a patch), when it gave one. */
  baseCommit?: string | null;
  /** Refs tried in order when the base commit is missing or does not take the series. */
  candidates?: readonly string[];
}

/** The bases to try, in order, each resolved in `repo` (commit null when the tree lacks it). */
export async function resolveBases(
  repo: string,
  opts: BaseOptions,
): Promise<Omit<BaseAttempt, "outcome">[]> {
  const wanted: Pick<BaseAttempt, "ref" | "source">[] = [];
  if (opts.baseCommit) wanted.push({ ref: opts.baseCommit, source: "base-commit" });
  for (const ref of opts.candidates ?? []) wanted.push({ ref, source: "candidate" });
  wanted.push({ ref: "HEAD", source: "head" });
  return Promise.all(
    wanted.map(async (w) => {
      const commit = await resolveCommit(repo, w.ref);
      // A sender names base-commit; it must be the tree's history, not any object the
      // repository holds (the commits `git am` made for earlier series are there too, and
      // a base builds in the trusted build directories).
      const trusted = w.source !== "base-commit" || (commit && (await onABranch(repo, commit)));
      return { ...w, commit: trusted ? commit : null };
    }),
  );
}

/** Whether a branch, tag or remote-tracking branch of `repo` contains `commit`. */
async function onABranch(repo: string, commit: string): Promise<boolean> {
  const refs = ["refs/heads", "refs/tags", "refs/remotes"];
  const result = await git(repo, ["for-each-ref", "--count=1", "--contains", commit, ...refs]);
  return result.exitCode === 0 && result.stdout.trim().length > 0;
}

/** A base choice, with the series as it was applied on the chosen base. */
export interface AppliedBaseChoice extends BaseChoice {
  /** The series applied on the chosen base (one commit per patch); null when none took it. */
  apply: SeriesApplyResult | null;
}

/**
 * Choose the base for a series: `base-commit:` when the tree has it, else the configured
 * candidates in order, else HEAD, taking the first on which every patch applies. Each base
 * is tried by applying the series in the slot with `git am`. The slot is left at the last
 * commit of the series applied on the chosen base, so that each step of the series is a
 * `git checkout` away and nothing is applied twice. Every base considered is recorded with
 * why it was not used.
 */
export async function chooseBase(
  slot: Slot,
  patches: readonly PatchInput[],
  opts: BaseOptions,
): Promise<AppliedBaseChoice> {
  const attempts: BaseAttempt[] = [];
  const tried = new Map<string, BaseAttempt>();
  let chosen: string | null = null;
  let apply: SeriesApplyResult | null = null;
  for (const base of await resolveBases(slot.repo, opts)) {
    if (chosen !== null) break;
    if (base.commit === null) {
      attempts.push({ ...base, outcome: "missing" });
      continue;
    }
    const earlier = tried.get(base.commit);
    if (earlier) {
      attempts.push({ ...base, outcome: earlier.outcome, failure: earlier.failure });
      continue;
    }
    await resetSlot(slot, base.commit, { asBuilt: (await baseBuiltFrom(slot)) === base.commit });
    const result = await applySeries(slot.src, patches);
    const failed = result.patches.find((p) => !p.applied);
    const attempt: BaseAttempt =
      failed && !failed.applied
        ? {
            ...base,
            outcome: "does-not-apply",
            failure: { patchId: failed.id, kind: failed.kind },
          }
        : { ...base, outcome: "chosen" };
    attempts.push(attempt);
    tried.set(base.commit, attempt);
    if (attempt.outcome === "chosen") {
      chosen = base.commit;
      apply = result;
    }
  }
  return { commit: chosen, attempts, apply };
}
