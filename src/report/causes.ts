import {
  groupByCause,
  sectionContents,
  type AttributedFinding,
  type Cause,
  type ChangedFile,
} from "../check/index.js";
import type { CheckResult } from "../shapes/check.js";
import type { ReportedRevision, ThreadPost } from "../shapes/report.js";

/*
 * What every text counts and lists: causes, each with the findings it brought in
 * (docs/json.md, `causes`). Unescaped: each renderer escapes.
 */

export interface CauseGroup {
  cause: Cause;
  findings: AttributedFinding[];
}

/** Each patch's diff, in series order, from the posts a reporter was given. */
export function patchDiffs(
  revision: ReportedRevision,
  posts: ReadonlyMap<string, ThreadPost>,
): (ChangedFile[] | undefined)[] {
  return revision.series.patches.map((p) => posts.get(p.messageId)?.files);
}

/** Whether every finding sits in exactly one of the causes stored with it. */
function storedWhole(result: Pick<CheckResult, "findings" | "causes">): boolean {
  const causes = result.causes;
  if (!causes) return false;
  const ids = new Set(causes.map((c) => c.id));
  const listed = causes.reduce((n, c) => n + c.findings.length, 0);
  return listed === result.findings.length && result.findings.every((f) => ids.has(f.cause ?? ""));
}

/**
 * A check's causes with their findings: as the check stored them, or grouped now for a
 * result stored before causes existed or with some findings taken out (ignored rules), with
 * the patches' diffs when the reporter has them.
 */
export function causeGroups(
  result: Pick<CheckResult, "findings" | "causes"> | null | undefined,
  diffs: readonly (ChangedFile[] | undefined)[] = [],
): CauseGroup[] {
  if (!result) return [];
  const { causes, findings } = storedWhole(result)
    ? { causes: result.causes ?? [], findings: result.findings }
    : groupByCause(result.findings, diffs);
  return causes.map((cause) => ({
    cause,
    findings: findings.filter((f) => f.cause === cause.id),
  }));
}

/** `2 errors, 1 warning` of causes; `no findings` for none. */
export function causeCount(groups: readonly CauseGroup[]): string {
  const errors = groups.filter((g) => g.cause.severity === "error").length;
  const warnings = groups.length - errors;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const parts = [];
  if (errors > 0) parts.push(plural(errors, "error"));
  if (warnings > 0) parts.push(plural(warnings, "warning"));
  return parts.join(", ") || "no findings";
}

/**
 * Where a cause is: `switch.h:448 in kvm_hyp_handle_dabt_low()`, `Makefile:12 (removed:
 * KASAN_SANITIZE := n)`, or the object when nothing names a line.
 */
export function causePlace(cause: Cause): string {
  const at = `${cause.file ?? "?"}${cause.line ? `:${cause.line}` : ""}`;
  const fn = cause.function && cause.kind === "line" ? ` in ${cause.function}()` : "";
  const text = cause.text?.trim().replace(/\s+/g, " ");
  const removed = cause.change === "removed" && text ? ` (removed: ${text})` : "";
  return `${at}${fn}${removed}`;
}

/** How many objects, shown by name up to `max`: `3 objects: a.o, b.o, c.o`. */
function objectList(objects: readonly string[], max = 4): string {
  const names = objects.map((o) => o.split("/").pop() ?? o);
  const shown = names.slice(0, max).join(", ") + (names.length > max ? ", ..." : "");
  return objects.length === 1 ? shown : `${objects.length} objects: ${shown}`;
}

/** A section and what it holds: `.data (_rs.1)`. */
export function sectionText(name: string, contents: readonly string[]): string {
  if (contents.length === 0) return name;
  return `${name} (${contents.slice(0, 5).join(", ")}${contents.length > 5 ? ", ..." : ""})`;
}

/**
 * What a cause affects, a line each: the symbols, the instrumentation and the objects it
 * reached, the sections it added.
 */
export function causeEffects(group: CauseGroup): string[] {
  const { cause, findings } = group;
  const out: string[] = [];
  if (cause.symbols.length > 0)
    out.push(`${cause.symbols.length === 1 ? "symbol" : "symbols"}: ${cause.symbols.join(", ")}`);
  if (cause.instrumentation.length > 0) {
    const instrumented = [
      ...new Set(
        findings.filter((f) => f.kind === "instrumentation").flatMap((f) => f.object ?? []),
      ),
    ];
    out.push(`instrumentation: ${cause.instrumentation.join(", ")} in ${objectList(instrumented)}`);
  }
  const sections = findings.filter((f) => f.kind === "section");
  const names = [...new Set(sections.map((f) => f.symbol))];
  for (const name of names) {
    const own = sections.filter((f) => f.symbol === name);
    const contents = [...new Set(own.flatMap(sectionContents))];
    const objects = [...new Set(own.flatMap((f) => f.object ?? []))];
    out.push(
      `section: ${sectionText(name, contents)} in ${objectList(objects)}, not mapped at EL2`,
    );
  }
  return out;
}
