import type { ApplyFailureKind } from "./types.js";

/** What git said about a patch that `git am -3` did not apply. */
export interface AmDiagnostics {
  /** stdout + stderr of `git am -3`. */
  amOutput: string;
  /** stdout + stderr of a plain `git apply --check` of the same diff (no three-way). */
  checkOutput: string;
  /** `git apply --check --reverse` succeeded: the tree already has the change. */
  reverseApplies: boolean;
  /** `git am` exited 0 but made no commit (three-way found nothing to change). */
  noCommit?: boolean;
}

const MALFORMED = [
  /^Patch is empty\./m,
  /corrupt patch at line \d+/,
  /^fatal: corrupt patch/m,
  /No valid patches in input/,
  /Patch format detection failed/,
  /patch fragment without header/,
  /git diff header lacks filename information/,
  /unrecognized input/,
  /patch with only garbage at line/,
  /recount: unexpected line/,
];

const MISSING: RegExp[] = [
  /error: (.+?): does not exist in index/g,
  /error: (.+?): No such file or directory/g,
  /CONFLICT \(modify\/delete\): (.+?) deleted in HEAD/g,
];

const CONTEXT: RegExp[] = [
  /error: patch failed: (.+?):\d+/g,
  /CONFLICT \(content\): Merge conflict in (.+)/g,
  /error: (.+?): patch does not apply/g,
  /sha1 information is lacking or useless \((.+?)\)/g,
  /error: (.+?): already exists in (?:index|working directory)/g,
];

function pathsOf(text: string, patterns: RegExp[]): string[] {
  const out = new Set<string>();
  for (const re of patterns) for (const m of text.matchAll(re)) if (m[1]) out.add(m[1].trim());
  return [...out];
}

/**
 * Name the reason a patch did not apply, from git's own messages. Order matters: a patch
 * git cannot even parse is malformed; one whose change is already in the tree (it applies
 * in reverse, or three-way merging left nothing to commit) is already applied; one that
 * names a file the tree lacks is missing-file; hunks that do not match are
 * context-mismatch. The plain `git apply --check` output decides when three-way merging
 * only said it lacked blob information.
 */
export function classifyAmFailure(d: AmDiagnostics): { kind: ApplyFailureKind; paths: string[] } {
  const all = `${d.amOutput}\n${d.checkOutput}`;
  if (MALFORMED.some((re) => re.test(all))) return { kind: "malformed", paths: [] };
  if (d.noCommit || d.reverseApplies || /No changes -- Patch already applied/.test(d.amOutput))
    return { kind: "already-applied", paths: pathsOf(all, [...CONTEXT, ...MISSING]) };
  const missing = pathsOf(all, MISSING);
  if (missing.length > 0) return { kind: "missing-file", paths: missing };
  const context = pathsOf(all, CONTEXT);
  if (context.length > 0) return { kind: "context-mismatch", paths: context };
  return { kind: "unknown", paths: [] };
}
