/** Comparing findings between builds, and attributing them to the patches of a series. Pure. */
import type { AttributedFinding, Finding, FindingDiff } from "./types.js";

/**
 * The stable part of a finding's identity: rule, symbol, emitting function and file. Line
 * numbers are left out so that unrelated edits above a site do not make it look new.
 */
export function baseKey(f: Pick<Finding, "rule" | "symbol" | "function" | "file">): string {
  return [f.rule, f.symbol, f.function ?? "", f.file ?? ""].join("|");
}

/**
 * Give each finding its `key`: the base key, with `#2`, `#3`, ... for further findings that
 * share it (ordered by line, so a second kfree() in the same function stays distinct).
 */
export function findingKeys(findings: readonly Omit<Finding, "key">[]): Finding[] {
  const groups = new Map<string, Omit<Finding, "key">[]>();
  for (const f of findings) {
    const k = baseKey(f);
    const group = groups.get(k);
    if (group) group.push(f);
    else groups.set(k, [f]);
  }
  const keyed = new Map<Omit<Finding, "key">, string>();
  for (const [k, group] of groups) {
    const sorted = [...group].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    sorted.forEach((f, i) => keyed.set(f, i === 0 ? k : `${k}#${i + 1}`));
  }
  return findings.map((f) => ({ ...f, key: keyed.get(f) ?? baseKey(f) }));
}

/** Findings of `after` whose key `before` lacks, and findings of `before` gone from `after`. */
export function diffFindings(before: readonly Finding[], after: readonly Finding[]): FindingDiff {
  const beforeKeys = new Set(before.map((f) => f.key));
  const afterKeys = new Set(after.map((f) => f.key));
  return {
    introduced: after.filter((f) => !beforeKeys.has(f.key)),
    removed: before.filter((f) => !afterKeys.has(f.key)),
  };
}

/**
 * `perStep[0]` is the base, `perStep[k]` the findings after patch k. Every finding the
 * series introduces, once, with the patch that introduced it and the first later patch after
 * which it is gone (null when still there at the end). Findings of the base are not reported;
 * a finding that disappears and comes back is reported again from its return.
 */
export function attributeFindings(perStep: readonly (readonly Finding[])[]): AttributedFinding[] {
  const base = new Set((perStep[0] ?? []).map((f) => f.key));
  const open = new Map<string, AttributedFinding>();
  const result: AttributedFinding[] = [];
  for (let k = 1; k < perStep.length; k++) {
    const step = perStep[k] ?? [];
    const present = new Set(step.map((f) => f.key));
    for (const [key, finding] of open) {
      if (!present.has(key)) {
        finding.fixedBy = k;
        open.delete(key);
      }
    }
    for (const f of step) {
      if (base.has(f.key) || open.has(f.key)) continue;
      const attributed: AttributedFinding = { ...f, introducedBy: k, fixedBy: null };
      open.set(f.key, attributed);
      result.push(attributed);
    }
  }
  return result;
}

/**
 * The next step to build to attribute a series whose final state (`final`) has what its base
 * has not. `has(step)` is what a built step has: its findings' keys, and a build that failed.
 * For each of those the final state brings in, the first built step that has it and the
 * built step below that one: while they are not adjacent patches, the step halfway between.
 * Null when each is pinned to one patch. It assumes what a patch brings in stays: what one
 * patch brings in and a later one removes is found by building every step.
 */
export function bisectStep(
  built: ReadonlySet<number>,
  final: number,
  has: (step: number) => ReadonlySet<string>,
): number | null {
  const order = [...built].sort((a, b) => a - b);
  const base = has(0);
  const brought = [...has(final)].filter((k) => !base.has(k)).sort();
  for (const item of brought) {
    const first = order.findIndex((step) => has(step).has(item));
    const hi = order[first];
    const lo = order[first - 1];
    if (hi !== undefined && lo !== undefined && hi - lo > 1) return Math.floor((lo + hi) / 2);
  }
  return null;
}
