import type { AttributedFinding } from "../check/index.js";
import type { BuildProblem, CheckResult } from "../shapes/check.js";
import { causeCount, causeEffects, causeGroups, causePlace, type CauseGroup } from "./causes.js";
import { escapeText as e } from "./escape.js";

const short = (commit: string | null) => (commit ? commit.slice(0, 12) : "none");

const BASE_REASON: Record<string, string> = {
  "base-commit": "the series' base-commit",
  candidate: "a configured base",
  head: "the tree's HEAD; the series gave no usable base-commit",
  requested: "requested with --base",
};

/** Why a build gave no verdict, for each bound of the sandbox (io/sandbox.ts). */
const BOUND_TEXT: Record<NonNullable<BuildProblem["bound"]>, string> = {
  time: "was stopped at its time bound",
  "series-time": "was stopped or not started: the check ran out of its time bound",
  memory: "was stopped at its memory bound",
  processes: "was stopped at its bound on processes",
  "file-size": "wrote a file over the file-size bound",
  "disk-bytes": "was stopped at its bound on disk bytes",
  "disk-files": "was stopped at its bound on files",
};

function where(f: AttributedFinding): string {
  const place = f.file ? `${e(f.file)}${f.line ? `:${f.line}` : ""}` : e(f.object ?? "?");
  return f.function ? `${place} in ${e(f.function)}()` : place;
}

const CHANGE_TEXT = { added: "a line this patch adds", removed: "a line this patch removes" };

/** A cause, what it affects, then each of its findings. */
function renderCause(group: CauseGroup): string[] {
  const { cause, findings } = group;
  const change = cause.change ? ` (${CHANGE_TEXT[cause.change]})` : "";
  const lines = [`  ${cause.severity} ${cause.rules.join(", ")}: ${e(causePlace(cause))}${change}`];
  if (cause.change === "added" && cause.text) lines.push(`    + ${e(cause.text.trim())}`);
  lines.push(...causeEffects(group).map((effect) => `    ${e(effect)}`));
  if (cause.fixedBy !== null) lines.push(`    (removed again by patch ${cause.fixedBy})`);
  lines.push(`    ${findings.length === 1 ? "1 finding" : `${findings.length} findings`}:`);
  for (const f of findings) lines.push(...renderFinding(f).map((l) => `    ${l}`));
  return lines;
}

function renderFinding(f: AttributedFinding): string[] {
  // Paths, functions and messages come from the patches, which come from mail.
  const lines = [`  ${f.severity} ${f.rule}: ${where(f)}`, `    ${e(f.message)}`];
  const inlined = f.inlineChain.slice(0, -1);
  if (inlined.length > 0) {
    lines.push("    inlined:");
    for (const frame of f.inlineChain)
      lines.push(
        `      ${e(frame.function)}() ${e(frame.file)}${frame.line ? `:${frame.line}` : ""}`,
      );
  }
  if (f.flags?.length) lines.push(`    let in by: ${e(f.flags.join(" "))}`);
  if (f.makefile) lines.push(`    ${e(f.makefile.note)}`);
  if (f.fixedBy !== null) lines.push(`    (removed again by patch ${f.fixedBy})`);
  lines.push(`    [config: ${f.config}]`);
  return lines;
}

/**
 * What a kernel developer reads after `hypwatch check` (no raw tool output): per patch, each
 * cause (docs/json.md) with what it affects and its findings under it.
 */
export function renderCheckText(result: CheckResult): string {
  const { tree, patches, findings } = result;
  const audit = patches.length === 0;
  const causes = causeGroups(result);
  const out: string[] = [];

  const subject = result.series ? `v${result.series.version} "${e(result.series.subject)}"` : null;
  if (tree.baseCommit === null) {
    out.push(`hypwatch: ${subject ?? "the series"} does not apply to any base that was tried.`);
  } else if (findings.length === 0) {
    out.push(
      audit
        ? "hypwatch: no hyp problems in this tree."
        : `hypwatch: ${subject ?? "the series"} introduces no hyp problems.`,
    );
  } else {
    const counted = `${causeCount(causes)} (${findings.length === 1 ? "1 finding" : `${findings.length} findings`})`;
    out.push(
      `hypwatch: ${counted} ${audit ? "in this tree" : `introduced by ${subject ?? "the series"}`}.`,
    );
  }
  out.push(
    "",
    `tree:    ${tree.path}${tree.era ? ` (${tree.era} era)` : ""}`,
    `base:    ${short(tree.baseCommit)}${tree.baseChosenBy ? ` (${BASE_REASON[tree.baseChosenBy]})` : ""}`,
    `configs: ${result.configs.join(", ")}${
      tree.baseReused.length > 0
        ? ` (base findings of ${tree.baseReused.join(", ")} from an earlier check of this base)`
        : ""
    }`,
  );
  for (const a of tree.attempts) {
    if (a.outcome === "chosen") continue;
    const why =
      a.outcome === "missing"
        ? "not in this tree"
        : `patch ${e(a.failure?.patchId ?? "?")} does not apply (${a.failure?.kind ?? "unknown"})`;
    out.push(`tried:   ${e(a.ref)} (${a.source}): ${why}`);
  }
  if (tree.attempts.some((a) => a.source === "base-commit") === false && !audit)
    out.push("hint:    `git format-patch --base=<commit>` tells checkers which base to use.");

  for (const p of patches) {
    const state = p.applied
      ? p.changesHypBuild === false
        ? "applied; changes no file the hyp objects are built from"
        : "applied"
      : p.failure
        ? `not applied (${e(p.failure)})`
        : "not tried";
    out.push("", `[${p.index}/${patches.length}] ${e(p.subject)}  -- ${state}`);
    for (const group of causes.filter((g) => g.cause.introducedBy === p.index))
      out.push(...renderCause(group));
  }
  if (audit) for (const group of causes) out.push(...renderCause(group));
  for (const b of result.buildProblems)
    out.push(
      "",
      `no verdict: the ${b.config} build ${b.step === 0 ? "of the base" : `after patch ${b.step}`} ` +
        `${b.bound ? BOUND_TEXT[b.bound] : `failed (${e(b.failedTargets.join(", ")) || "see log"})`}; log: ${b.logPath}`,
    );
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  out.push(
    "",
    `time: ${s(result.timings.totalMs)} (apply ${s(result.timings.applyMs)}, build ${s(result.timings.buildMs)}, analyze ${s(result.timings.analyzeMs)})`,
  );
  return out.join("\n");
}
