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
