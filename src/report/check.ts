import type { AttributedFinding } from "../check/index.js";
import type { BuildProblem, CheckResult } from "../shapes/check.js";
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

/** What a kernel developer reads after `hypwatch check` (no raw tool output). */
export function renderCheckText(result: CheckResult): string {
  const { tree, patches, findings } = result;
  const audit = patches.length === 0;
  const errors = findings.filter((f) => f.severity === "error").length;
  const warnings = findings.length - errors;
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
    out.push(
      `hypwatch: ${errors} error(s), ${warnings} warning(s) ${audit ? "in this tree" : `introduced by ${subject ?? "the series"}`}.`,
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
    for (const f of findings.filter((x) => x.introducedBy === p.index))
      out.push(...renderFinding(f));
  }
  if (audit) for (const f of findings) out.push(...renderFinding(f));
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
