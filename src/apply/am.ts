import { git, gitOk } from "../io/git.js";
import { classifyAmFailure } from "./classify.js";
import type { PatchApplyResult, PatchInput, SeriesApplyResult } from "./types.js";

const AM_TIMEOUT_MS = 5 * 60_000;

async function head(worktree: string): Promise<string> {
  return (await gitOk(worktree, ["rev-parse", "HEAD"])).trim();
}

/**
 * Apply one patch mail with `git am -3` on the worktree's current HEAD. On failure the
 * reason is classified, `git am --abort` restores HEAD and the index, and git's raw output
 * is returned for logs only.
 */
export async function applyPatch(worktree: string, patch: PatchInput): Promise<PatchApplyResult> {
  const before = await head(worktree);
  const am = await git(worktree, ["am", "-3", "--no-gpg-sign"], {
    input: patch.mail,
    timeoutMs: AM_TIMEOUT_MS,
  });
  const amOutput = `${am.stdout}\n${am.stderr}`;
  if (am.exitCode === 0) {
    const after = await head(worktree);
    if (after !== before) return { id: patch.id, applied: true, commit: after };
    const { kind, paths } = classifyAmFailure({
      amOutput,
      checkOutput: "",
      reverseApplies: false,
      noCommit: true,
    });
    return { id: patch.id, applied: false, kind, paths, rawOutput: amOutput };
  }
  const shown = await git(worktree, ["am", "--show-current-patch=diff"]);
  let checkOutput = "";
  let reverseApplies = false;
  if (shown.exitCode === 0 && shown.stdout.trim() !== "") {
    await git(worktree, ["am", "--abort"]);
    const check = await git(worktree, ["apply", "--check"], { input: shown.stdout });
    checkOutput = `${check.stdout}\n${check.stderr}`;
    const reverse = await git(worktree, ["apply", "--check", "--reverse"], {
      input: shown.stdout,
    });
    reverseApplies = reverse.exitCode === 0;
  } else {
    await git(worktree, ["am", "--abort"]);
  }
  const { kind, paths } = classifyAmFailure({ amOutput, checkOutput, reverseApplies });
  return {
    id: patch.id,
    applied: false,
    kind,
    paths,
    rawOutput: `${amOutput}\n--- git apply --check ---\n${checkOutput}`,
  };
}

/**
 * Apply `patches` in order on the worktree's HEAD, one `git am` per patch, stopping at the
 * first failure. `afterEach` runs after every applied patch (e.g. to build base+1..k).
 */
export async function applySeries(
  worktree: string,
  patches: readonly PatchInput[],
  afterEach?: (result: PatchApplyResult, index: number) => Promise<void>,
): Promise<SeriesApplyResult> {
  const base = await head(worktree);
  const results: PatchApplyResult[] = [];
  for (const [index, patch] of patches.entries()) {
    const result = await applyPatch(worktree, patch);
    results.push(result);
    if (!result.applied) break;
    if (afterEach) await afterEach(result, index);
  }
  const complete = results.length === patches.length && results.every((r) => r.applied);
  return { base, patches: results, complete };
}
