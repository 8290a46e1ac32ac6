/**
 * Judging a mutation case: does the toolchain agree with the case's expectation, and does
 * hypwatch report exactly the expected findings? Pure.
 */
import path from "node:path";
import type { AttributedFinding } from "../src/check/index.js";
import type { CheckResult } from "../src/pipeline/check.js";
import type { PreparedCase, ResolvedExpectation } from "./mutation-cases.js";
import type { TruthItem } from "./toolchain-truth.js";

export interface CaseOutcome {
  name: string;
  expected: string;
  toolchain: string;
  hypwatch: string;
  ok: boolean;
  /** Every disagreement, one line each. */
  problems: string[];
  checkMs: number;
  totalMs: number;
  /** hypwatch's findings, and the causes they group into (each finding was an item before). */
  findings: number;
  causes: number;
  /** What a reviewer would see, in one word: see `judgement`. */
  judgement: Judgement;
}

/**
 * `found`: every expected finding, at its place; `wrong place`: reported, elsewhere;
 * `missed`: some or all not reported; `unseen`: the toolchain does not show it in the
 * configurations built (the option it needs is off); `clean` / `false alarm` for controls.
 */
export type Judgement = "found" | "wrong place" | "missed" | "unseen" | "clean" | "false alarm";

const atExpectedPlace = (e: ResolvedExpectation, f: AttributedFinding): boolean => {
  const at = location(f, e.rule);
  return e.anyLocation || (at.file === e.file && at.line === e.line);
};

/** The one-word judgement of a case (see `Judgement`). */
export function judge(
  expect: readonly ResolvedExpectation[],
  findings: readonly AttributedFinding[],
  truth: ReadonlyMap<string, readonly TruthItem[]>,
): Judgement {
  if (expect.length === 0) return findings.length === 0 ? "clean" : "false alarm";
  const shown = [...truth.values()].flat();
  if (expect.some((e) => !shown.some((t) => itemKey(t) === itemKey(e)))) return "unseen";
  const reported = expect.map((e) =>
    findings.filter((f) => itemKey(f) === itemKey(e) && f.introducedBy === e.patch),
  );
  if (reported.some((r) => r.length === 0)) return "missed";
  return expect.every((e, i) => reported[i]?.some((f) => atExpectedPlace(e, f)))
    ? "found"
    : "wrong place";
}

interface VerdictItem {
  rule: string;
  symbol: string;
  introducedBy: number;
  fixedBy: number | null;
}

const RULE_TAG: Record<string, string> = {
  "hyp/undefined-symbol": "",
  "hyp/instrumentation": "instr:",
  "hyp/unmapped-section": "section:",
  "hyp/new-alias": "alias:",
  "hyp/link-error": "link:",
};

const itemKey = (i: { rule: string; symbol: string }) => `${i.rule}|${i.symbol}`;

/** `kfree@1`, `instr:kasan@1`, `kfree@2-3` (fixed by 3); `clean` when empty. */
export function verdictText(items: readonly VerdictItem[]): string {
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const i of items) {
    const text = `${RULE_TAG[i.rule] ?? `${i.rule}:`}${i.symbol}@${i.introducedBy}${i.fixedBy === null ? "" : `-${i.fixedBy}`}`;
    if (seen.has(text)) continue;
    seen.add(text);
    parts.push(text);
  }
  return parts.length === 0 ? "clean" : parts.sort().join(",");
}

const span = (i: { introducedBy: number; fixedBy: number | null }) =>
  `patch ${i.introducedBy}${i.fixedBy === null ? "" : `, fixed by ${i.fixedBy}`}`;

function expectedItems(expect: readonly ResolvedExpectation[]): VerdictItem[] {
  return expect.map((e) => ({
    rule: e.rule,
    symbol: e.symbol,
    introducedBy: e.patch,
    fixedBy: e.fixedBy,
  }));
}

function compareTruth(
  config: string,
  expect: readonly ResolvedExpectation[],
  truth: readonly TruthItem[],
): string[] {
  const problems: string[] = [];
  for (const e of expect) {
    const t = truth.filter((i) => itemKey(i) === itemKey(e));
    if (t.length === 0) problems.push(`toolchain (${config}) shows no ${e.rule} ${e.symbol}`);
    for (const i of t)
      if (i.introducedBy !== e.patch || i.fixedBy !== e.fixedBy)
        problems.push(
          `toolchain (${config}): ${e.symbol} at ${span(i)}, expected ${span({ introducedBy: e.patch, fixedBy: e.fixedBy })}`,
        );
  }
  for (const i of truth)
    if (!expect.some((e) => itemKey(e) === itemKey(i)))
      problems.push(`toolchain (${config}) shows unexpected ${i.rule} ${i.symbol} (${span(i)})`);
  return problems;
}

function location(
  f: AttributedFinding,
  rule: string,
): { file: string | null; line: number | null } {
  return rule === "hyp/instrumentation"
    ? { file: f.makefile?.file ?? null, line: f.makefile?.line ?? null }
    : { file: f.file, line: f.line };
}

function compareFindings(
  expect: readonly ResolvedExpectation[],
  findings: readonly AttributedFinding[],
  truth: ReadonlyMap<string, readonly TruthItem[]>,
): string[] {
  const problems: string[] = [];
  for (const e of expect) {
    const found = findings.filter((f) => itemKey(f) === itemKey(e));
    if (found.length === 0) problems.push(`hypwatch reports no ${e.rule} ${e.symbol}`);
    for (const f of found) {
      if (f.introducedBy !== e.patch || f.fixedBy !== e.fixedBy)
        problems.push(
          `hypwatch: ${e.symbol} at ${span(f)}, expected ${span({ introducedBy: e.patch, fixedBy: e.fixedBy })}`,
        );
      const at = location(f, e.rule);
      if (!e.anyLocation && (at.file !== e.file || at.line !== e.line))
        problems.push(
          `hypwatch: ${e.symbol} at ${at.file ?? "?"}:${at.line ?? "-"}, expected ${e.file ?? "?"}:${e.line ?? "-"}`,
        );
    }
    if (e.rule === "hyp/instrumentation" && found.length > 0) {
      // Every object the toolchain finds instrumented, and no other, is reported.
      const objects = new Set(
        [...truth.values()]
          .flat()
          .flatMap((t) => (itemKey(t) === itemKey(e) ? (t.objects ?? []) : [])),
      );
      // The link command names shared objects as `nvhe/../x.nvhe.o`.
      const reported = new Set(found.map((f) => path.posix.normalize(f.object ?? "?")));
      const missed = [...objects].filter((o) => !reported.has(o));
      const extra = [...reported].filter((o) => !objects.has(o));
      if (missed.length > 0) problems.push(`hypwatch misses ${e.symbol} in ${missed.join(", ")}`);
      if (extra.length > 0)
        problems.push(`hypwatch reports ${e.symbol} in ${extra.join(", ")} too`);
    }
  }
  for (const f of findings)
    if (!expect.some((e) => itemKey(e) === itemKey(f)))
      problems.push(
        `hypwatch reports unexpected ${f.rule} ${f.symbol} at ${f.file ?? f.object ?? "?"}:${f.line ?? "-"} (${span(f)})`,
      );
  return problems;
}

/** Compare expectation, toolchain truth (per configuration) and hypwatch's result. */
export function compareCase(
  prepared: PreparedCase,
  truth: ReadonlyMap<string, readonly TruthItem[]>,
  result: CheckResult,
  times: { checkMs: number; totalMs: number },
): CaseOutcome {
  const findings = result.findings.length;
  const problems: string[] = [];
  const notApplied = result.patches.filter((p) => !p.applied);
  if (result.tree.baseCommit === null || notApplied.length > 0)
    problems.push(`hypwatch did not apply patch(es) ${notApplied.map((p) => p.index).join(", ")}`);
  for (const b of result.buildProblems)
    problems.push(`hypwatch: no verdict for ${b.config} at step ${b.step} (${b.logPath})`);
  for (const [config, items] of truth)
    problems.push(...compareTruth(config, prepared.expect, items));
  problems.push(...compareFindings(prepared.expect, result.findings, truth));
  const truthText = [...new Set([...truth.values()].map((items) => verdictText(items)))].join(
    " / ",
  );
  return {
    name: prepared.case.name,
    expected: verdictText(expectedItems(prepared.expect)),
    toolchain: truthText,
    hypwatch: verdictText(result.findings),
    ok: problems.length === 0,
    problems,
    ...times,
    findings,
    causes: result.causes?.length ?? findings,
    judgement: judge(prepared.expect, result.findings, truth),
  };
}
