import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
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
 * Apply `patches` in order on the worktree's HEAD, stopping at the first failure.
 * `afterEach` runs after every applied patch (e.g. to build base+1..k). Without it, the
 * series is first tried in one `git am` (one index refresh for the series instead of one
 * per patch: 0.76 s for 7 patches on linux 6.1, against 2.85 s patch by patch); when that
 * does not give exactly one commit per mail, the worktree goes back and the patches are
 * applied one `git am` each, which names the patch that failed and why.
 */
export async function applySeries(
  worktree: string,
  patches: readonly PatchInput[],
  afterEach?: (result: PatchApplyResult, index: number) => Promise<void>,
): Promise<SeriesApplyResult> {
  const base = await head(worktree);
  if (!afterEach && patches.length > 1) {
    const commits = await applyAtOnce(worktree, base, patches);
    if (commits) {
      const results = patches.map((p, i) => ({
        id: p.id,
        applied: true as const,
        commit: commits[i] ?? "",
      }));
      return { base, patches: results, complete: true };
    }
  }
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

/**
 * The whole series in one `git am`, each mail its own mbox file as `git am` would read it
 * from stdin: the commits, one per mail in order, or null (with the worktree back at `base`
 * and no am session left) when it failed or a mail did not make exactly one commit.
 */
export async function applyAtOnce(
  worktree: string,
  base: string,
  patches: readonly PatchInput[],
): Promise<string[] | null> {
  const dir = await mkdtemp(path.join(tmpdir(), "hypwatch-am-"));
  try {
    const files = await Promise.all(
      patches.map(async (p, i) => {
        const file = path.join(dir, String(i + 1).padStart(4, "0"));
        await writeFile(file, p.mail);
        return file;
      }),
    );
    const am = await git(worktree, ["am", "-3", "--no-gpg-sign", "--", ...files], {
      timeoutMs: AM_TIMEOUT_MS * patches.length,
    });
    const commits =
      am.exitCode === 0
        ? (await gitOk(worktree, ["rev-list", "--reverse", `${base}..HEAD`]))
            .split("\n")
            .filter(Boolean)
        : [];
    if (commits.length === patches.length) return commits;
    await git(worktree, ["am", "--abort"]);
    await gitOk(worktree, ["checkout", "--detach", "-f", "-q", base]);
    return null;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
