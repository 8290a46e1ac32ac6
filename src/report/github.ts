import { createHash } from "node:crypto";
import type { AttributedFinding } from "../check/index.js";
import type { CheckResult } from "../shapes/check.js";
import type { ReportContext, ReportedRevision } from "../shapes/report.js";
import type { Verdict, VerdictKind } from "../shapes/verdict.js";
import {
  causeCount,
  causeEffects,
  causeGroups,
  causePlace,
  patchDiffs,
  type CauseGroup,
} from "./causes.js";
import { escapeText } from "./escape.js";
import { withoutIgnored } from "./ignored.js";

/*
 * The GitHub issue of a series (docs/github.md): its title, labels and body, the comments
 * that say what a new revision changed, and the plan of what to do with the issue for a
 * verdict. Pure: src/notify/github.ts does what the plan says. Everything from mail
 * (subjects, names, paths, symbols) is hostile: it reaches Markdown only inside code spans
 * (no mention pings, references, links or HTML there) and the title only as plain text.
 */

/** GitHub refuses issue and comment bodies longer than this (characters). */
export const GITHUB_BODY_LIMIT = 65_536;
/** GitHub's longest issue title. */
export const GITHUB_TITLE_LIMIT = 256;
/** Labels are at most 50 characters. */
const LABEL_LIMIT = 50;
/** Series ids the marker remembers: the revisions an issue has reported. */
const MARKER_SERIES_LIMIT = 50;

export interface GithubRenderOptions {
  /** The public-inbox base message links point into, e.g. `https://lore.kernel.org/all`. */
  loreUrl: string;
  /** Body size bound; GitHub's own by default (smaller in tests). */
  bodyLimit?: number;
}

/** What the hidden marker at the end of an issue body says, in hashes and numbers only. */
export interface IssueMarker {
  /** `seriesToken`s of every revision this issue has reported. */
  series: string[];
  /** The version last reported. */
  version: number;
  /** `verdictToken` of the verdict last reported. */
  verdict: string;
}

const hash = (text: string): string => createHash("sha256").update(text).digest("hex");

/**
 * The searchable token of one revision of a series: a hash, so nothing from mail is in the
 * marker, and one word to GitHub's search.
 */
export function seriesToken(list: string, seriesId: string): string {
  return `hypwatchseries${hash(`${list}\0${seriesId}`).slice(0, 32)}`;
}

/** The token of one verdict's report (its idempotency key, hashed). */
export function verdictToken(idempotencyKey: string): string {
  return `hypwatchverdict${hash(idempotencyKey).slice(0, 32)}`;
}

const MARKER_LINE =
  /^<!-- hypwatch-issue ((?:hypwatchseries[0-9a-f]{32} ?)+) v(\d+) (hypwatchverdict[0-9a-f]{32}) -->$/;
const COMMENT_MARKER = (token: string) => `<!-- hypwatch-comment ${token} -->`;

export function renderMarker(marker: IssueMarker): string {
  return `<!-- hypwatch-issue ${marker.series.join(" ")} v${marker.version} ${marker.verdict} -->`;
}

/**
 * The marker of a body as this module wrote it: only its last line counts, so text quoted
 * from mail higher up cannot pass for one.
 */
export function parseMarker(body: string | null | undefined): IssueMarker | null {
  const last = (body ?? "").trimEnd().split("\n").pop() ?? "";
  const match = MARKER_LINE.exec(last.trim());
  if (!match) return null;
  return {
    series: (match[1] ?? "").trim().split(" "),
    version: Number(match[2]),
    verdict: match[3] ?? "",
  };
}

/** Whether a comment is the one this verdict posts (its hidden marker on the last line). */
export function isVerdictComment(body: string | null | undefined, token: string): boolean {
  return (body ?? "").trimEnd().split("\n").pop()?.trim() === COMMENT_MARKER(token);
}

/** A line of text from mail as it may stand anywhere: controls visible, one line, bounded. */
function oneLine(text: string, max: number): string {
  const flat = escapeText(text.replace(/\s+/g, " ").trim());
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/**
 * Hostile text as a Markdown code span: GitHub renders its content literally (no
 * @-mention, `#123` reference, autolink, emphasis or HTML), whatever backticks it holds.
 */
export function code(text: string, max = 200): string {
  const content = oneLine(text, max);
  const longest = Math.max(0, ...[...content.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = "`".repeat(longest + 1);
  const pad = content.startsWith("`") || content.endsWith("`") || content === "" ? " " : "";
  return `${fence}${pad}${content}${pad}${fence}`;
}

/**
 * Plain text for the title: controls visible, and `@name` and `#123` broken with a zero
 * width space so that a title never pings anyone nor cross-references another issue.
 */
function plainText(text: string, max: number): string {
  return oneLine(text, max).replace(/([@#])(?=[\w-])/g, "$1\u200b");
}

/** A link into the public inbox; the Message-ID percent-encoded, so it cannot end the link. */
export function loreLink(loreUrl: string, messageId: string): string {
  const id = encodeURIComponent(messageId).replace(
    /[!'()*~]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${loreUrl.replace(/\/+$/, "")}/${id}/`;
}

const plural = (n: number, word: string, words = `${word}s`) => `${n} ${n === 1 ? word : words}`;

/** What a verdict says in a few words, for titles and comments: causes, not findings. */
function verdictWords(verdict: Verdict): string {
  switch (verdict.kind) {
    case "findings":
      return causeCount(causeGroups(verdict.result));
    case "clean":
      return "clean";
    case "does-not-apply":
      return "does not apply";
    case "already-applied":
      return "already applied";
    case "no-base":
      return "no base to apply to";
    case "timed-out":
      return "timed out";
    case "build-failed":
      return "build failed";
    case "superseded":
      return "superseded";
  }
}

/** `[PATCH v7] <subject>: 2 errors, 1 warning`, within GitHub's title bound. */
export function issueTitle(verdict: Verdict): string {
  const tag = `[PATCH v${verdict.version}${verdict.partial ? " partial" : ""}] `;
  const tail = `: ${verdictWords(verdict)}`;
  return `${tag}${plainText(verdict.subject, GITHUB_TITLE_LIMIT - tag.length - tail.length)}${tail}`;
}

/** `hypwatch`, the list, the verdict's state and each rule its findings break. */
export function issueLabels(verdict: Verdict): string[] {
  const rules = [...new Set((verdict.result?.findings ?? []).map((f) => `rule:${f.rule}`))].sort();
  const labels = ["hypwatch", `list:${verdict.list}`, `state:${verdict.kind}`, ...rules];
  if (verdict.partial) labels.push("partial");
  return labels.map((l) => l.slice(0, LABEL_LIMIT));
}

/**
 * The check JSON as it may be published: the tree's URL without credentials (a local path
 * by its last component), build logs by file name: the bot's machine is nobody's business.
 */
export function publicCheckResult(result: CheckResult): CheckResult {
  return {
    ...result,
    tree: { ...result.tree, path: publicLocation(result.tree.path) },
    buildProblems: result.buildProblems.map((p) => ({
      ...p,
      logPath: p.logPath.split("/").pop() ?? "",
    })),
  };
}

function publicLocation(location: string): string {
  try {
    const url = new URL(location);
    if (url.protocol === "http:" || url.protocol === "https:" || url.protocol === "git:") {
      url.username = "";
      url.password = "";
      url.search = "";
      url.hash = "";
      return url.toString();
    }
  } catch {
    // Not a URL: a path on the bot's machine.
  }
  return location.replace(/\/+$/, "").split("/").pop() ?? "";
}

/** JSON with every character a terminal or an editor could misshow written as an escape. */
function safeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function fenced(info: string, text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`{3,}/g)].map((m) => m[0].length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${text}\n${fence}`;
}

function place(f: AttributedFinding): string {
  if (f.file) return code(`${f.file}${f.line ? `:${f.line}` : ""}`);
  return f.object ? code(f.object) : "an unknown place";
}

/** One finding as a Markdown list item. */
function findingItem(f: AttributedFinding): string {
  const lines = [
    `- **${f.severity}** ${code(f.rule)} ${code(f.symbol)}${f.function ? ` in ${code(`${f.function}()`)}` : ""} at ${place(f)} (${code(f.config)})${f.fixedBy !== null ? `, removed again by patch ${f.fixedBy}` : ""}`,
    `  ${code(f.message, 500)}`,
  ];
  if (f.inlineChain.length > 1) {
    const frames = f.inlineChain
      .slice(0, 8)
      .map((fr) => code(`${fr.function}() ${fr.file}${fr.line ? `:${fr.line}` : ""}`));
    lines.push(`  inlined: ${frames.join(" ← ")}${f.inlineChain.length > 8 ? " ← …" : ""}`);
  }
  if (f.flags?.length) lines.push(`  let in by ${code(f.flags.join(" "))}`);
  if (f.makefile) lines.push(`  ${code(f.makefile.note, 300)}`);
  return lines.join("\n");
}

/**
 * A cause as a Markdown list item: where, what it affects, then each of its findings
 * `shown` (the body's size bound may leave some out) as a nested item.
 */
function causeItem(group: CauseGroup, shown: readonly AttributedFinding[]): string {
  const { cause, findings } = group;
  const rules = cause.rules.map((r) => code(r)).join(", ");
  const change = cause.change
    ? `, a line patch ${cause.introducedBy} ${cause.change === "added" ? "adds" : "removes"}`
    : "";
  const fixed = cause.fixedBy !== null ? `, removed again by patch ${cause.fixedBy}` : "";
  const lines = [
    `- **${cause.severity}** ${rules} at ${code(causePlace(cause), 300)}${change}${fixed}: ${plural(findings.length, "finding")}`,
    ...causeEffects(group).map((effect) => `  ${code(effect, 300)}`),
  ];
  if (cause.change === "added" && cause.text) lines.push(`  ${code(`+${cause.text}`, 300)}`);
  for (const f of shown)
    lines.push(
      ...findingItem(f)
        .split("\n")
        .map((l) => `  ${l}`),
    );
  return lines.join("\n");
}

/** A cause in one line: for the comments that say what changed. */
function causeLine(group: CauseGroup): string {
  const { cause, findings } = group;
  const what = [...cause.symbols, ...cause.instrumentation];
  const named = what.length > 0 ? ` ${code(what.join(", "), 200)}` : "";
  return `- ${cause.rules.map((r) => code(r)).join(", ")}${named} at ${code(causePlace(cause), 300)}, patch ${cause.introducedBy}: ${plural(findings.length, "finding")}`;
}

function patchSubject(current: ReportedRevision, index: number): string {
  return (
    current.verdict.result?.patches.find((p) => p.index === index)?.subject ??
    current.series.patches.find((p) => p.index === index)?.subject ??
    `patch ${index}`
  );
}

/** Causes by the patch that introduced them, each with those of its findings `shown`. */
function causeSections(
  current: ReportedRevision,
  groups: readonly CauseGroup[],
  shown: readonly AttributedFinding[],
): string[] {
  const out: string[] = [];
  const id = (f: AttributedFinding) => `${f.key}@${f.introducedBy}`;
  const visible = new Set(shown.map(id));
  const byPatch = new Map<number, string[]>();
  for (const group of groups) {
    const own = group.findings.filter((f) => visible.has(id(f)));
    if (own.length === 0) continue;
    const index = group.cause.introducedBy;
    byPatch.set(index, [...(byPatch.get(index) ?? []), causeItem(group, own)]);
  }
  for (const [index, items] of [...byPatch].sort((a, b) => a[0] - b[0])) {
    const messageId = current.series.patches.find((p) => p.index === index)?.messageId;
    out.push(
      `#### Patch ${index}/${current.series.total}: ${code(patchSubject(current, index), 150)}`,
    );
    if (messageId) out.push(`Message-ID: ${code(messageId)}`);
    out.push("", ...items, "");
  }
  return out;
}

/** What happened to the verdict's patches and builds besides findings. */
function otherNotes(verdict: Verdict): string[] {
  const result = verdict.result;
  const out: string[] = [];
  if (verdict.reason) out.push(`- Reason: ${code(verdict.reason, 300)}`);
  for (const p of result?.patches ?? []) {
    if (!p.applied) {
      out.push(`- Patch ${p.index} did not apply${p.failure ? ` (${code(p.failure)})` : ""}`);
    }
  }
  for (const b of result?.buildProblems ?? []) {
    const step = b.step === 0 ? "the base" : `patch ${b.step}`;
    out.push(
      `- The ${code(b.config)} build after ${step} gave no verdict${b.bound ? ` (bound: ${code(b.bound)})` : b.timedOut ? " (timed out)" : ""}`,
    );
  }
  return out;
}

function summaryLine(context: ReportContext, groups: readonly CauseGroup[]): string {
  const { verdict, series } = context.current;
  const findings = verdict.result?.findings ?? [];
  const subject = code(verdict.subject, 200);
  const head = `hypwatch checked **v${verdict.version}** of ${subject} (${plural(series.total, "patch", "patches")}${verdict.partial ? ", partial: not every patch had arrived" : ""})`;
  switch (verdict.kind) {
    case "findings":
      return `${head}: it introduces **${causeCount(groups)}** (${plural(findings.length, "finding")}) in arm64 KVM hyp code.`;
    case "clean":
      return `${head}: it introduces no hyp problem.`;
    case "does-not-apply":
      return `${head}: it does not apply to any base tried.`;
    case "already-applied":
      return `${head}: it is already applied to the tree.`;
    case "no-base":
      return `${head}: no base was found to apply it to.`;
    case "timed-out":
      return `${head}: the check timed out.`;
    case "build-failed":
      return `${head}: the hyp build failed, so nothing could be judged.`;
    case "superseded":
      return `hypwatch did not check **v${verdict.version}** of ${subject}: a newer revision was posted before its check ran.`;
  }
}

function detailLines(context: ReportContext, loreUrl: string): string[] {
  const { verdict, series, list } = context.current;
  const result = verdict.result;
  const lines = [
    `- List: ${code(list)}; author: ${code(series.author.name || series.author.email)}`,
  ];
  const first = series.coverMessageId ?? series.patches[0]?.messageId;
  if (first) lines.push(`- Thread: [${code(first, 120)}](${loreLink(loreUrl, first)})`);
  if (result?.tree.baseCommit) {
    lines.push(
      `- Base: ${code(result.tree.baseCommit.slice(0, 12))}${result.tree.baseChosenBy ? ` (chosen by ${code(result.tree.baseChosenBy)})` : ""}; configurations: ${result.configs.map((c) => code(c)).join(", ")}`,
    );
  }
  const previous = context.previous?.verdict;
  if (previous) {
    lines.push(`- Previous revision: v${previous.version}, ${verdictWords(previous)}`);
  }
  if (context.ignored && context.ignored.length > 0) {
    const rules = [...context.ignored].sort().map((r) => code(r));
    lines.push(`- Not reported, as asked on the list (\`#hypwatch ignore\`): ${rules.join(", ")}`);
  }
  return lines;
}

/**
 * The issue body: summary, causes (docs/json.md) grouped by the patch that introduced them
 * with their findings under each, the check JSON and, last, the hidden marker. Within
 * `bodyLimit`: findings are left out from the end (the counts stay whole) until it fits.
 */
export function issueBody(
  context: ReportContext,
  marker: IssueMarker,
  options: GithubRenderOptions,
): string {
  const limit = options.bodyLimit ?? GITHUB_BODY_LIMIT;
  const findings = context.current.verdict.result?.findings ?? [];
  const groups = causeGroups(
    context.current.verdict.result,
    patchDiffs(context.current, context.posts),
  );
  const summary = summaryLine(context, groups);
  const render = (shown: number, withJson: boolean): string => {
    const { verdict } = context.current;
    const out = [summary, "", ...detailLines(context, options.loreUrl), ""];
    if (findings.length > 0) {
      const listed = causeSections(context.current, groups, findings.slice(0, shown));
      out.push("### Findings by cause", "", ...listed);
      if (shown < findings.length) {
        out.push(
          `${findings.length - shown} more not shown here (the issue body has a size bound).`,
          "",
        );
      }
    }
    const notes = otherNotes(verdict);
    if (notes.length > 0) out.push("### Notes", "", ...notes, "");
    if (verdict.result && withJson) {
      const json = publicCheckResult(verdict.result);
      const partial = { ...json, findings: json.findings.slice(0, shown) };
      out.push(
        "<details><summary>Check result (JSON, docs/json.md)</summary>",
        "",
        ...(shown < findings.length
          ? [`The first ${shown} of ${findings.length} findings.`, ""]
          : []),
        fenced("json", safeJson(partial)),
        "",
        "</details>",
        "",
      );
    }
    out.push(renderMarker(marker));
    return out.join("\n");
  };
  let body = render(findings.length, true);
  if (body.length <= limit) return body;
  // The largest number of findings that fits, found by halving.
  let low = 0;
  let high = findings.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (render(mid, true).length <= limit) low = mid;
    else high = mid - 1;
  }
  body = render(low, true);
  if (body.length <= limit) return body;
  body = render(0, false);
  return body.length <= limit ? body : `${summary}\n\n${renderMarker(marker)}`;
}

/**
 * What changed between the causes of two revisions, by their findings' keys: a cause is
 * removed when none of its findings is left, added when one of its findings is new.
 */
export function causeChanges(
  previous: readonly CauseGroup[],
  current: readonly CauseGroup[],
): { added: CauseGroup[]; removed: CauseGroup[]; kept: CauseGroup[] } {
  const keys = (groups: readonly CauseGroup[]) =>
    new Set(groups.flatMap((g) => g.findings.map((f) => f.key)));
  const before = keys(previous);
  const now = keys(current);
  const isNew = (g: CauseGroup) => g.findings.some((f) => !before.has(f.key));
  return {
    added: current.filter(isNew),
    removed: previous.filter((g) => g.findings.every((f) => !now.has(f.key))),
    kept: current.filter((g) => !isNew(g)),
  };
}

/** The state an issue is found in: what the plan starts from. */
export interface IssueState {
  state: "open" | "closed";
  marker: IssueMarker | null;
}

export type IssuePlan =
  | { action: "none"; why: string }
  | { action: "create"; title: string; body: string; labels: string[] }
  | {
      action: "update";
      title: string;
      body: string;
      labels: string[];
      state: "open" | "closed";
      stateReason: "completed" | "not_planned" | "reopened" | null;
      /** Posted before the update, with the verdict's comment marker; null: no comment. */
      comment: string | null;
    };

/** Kinds after which the issue is closed: nothing is (or can be) wrong any more. */
const CLOSING: Partial<Record<VerdictKind, "completed" | "not_planned">> = {
  clean: "completed",
  "already-applied": "completed",
  superseded: "not_planned",
};

/** The comment of a verdict on an existing issue, or null when it says nothing new. */
function changeComment(
  context: ReportContext,
  issue: IssueState,
  token: string,
  limit: number,
): string | null {
  const { verdict } = context.current;
  const reported = issue.marker?.version ?? 0;
  const newVersion = verdict.version > reported;
  const groups = causeGroups(verdict.result, patchDiffs(context.current, context.posts));
  const since = context.previous ? ` since v${context.previous.verdict.version}` : "";
  const { added, removed, kept } = causeChanges(
    causeGroups(context.previous?.verdict.result),
    groups,
  );
  const closing = CLOSING[verdict.kind];
  const lines: string[] = [];
  const list = (title: string, items: CauseGroup[]) => {
    if (items.length === 0) return;
    lines.push("", `${title}:`, ...items.slice(0, 50).map(causeLine));
    if (items.length > 50) lines.push(`- … and ${items.length - 50} more`);
  };
  if (verdict.kind === "findings") {
    if (issue.state === "closed") {
      lines.push(`Reopening: **v${verdict.version}** introduces ${causeCount(groups)} again.`);
    } else if (newVersion) {
      lines.push(`**v${verdict.version}** introduces ${causeCount(groups)}.`);
    } else {
      return null;
    }
    list(`New${since}`, added);
    list(`Fixed${since}`, removed);
    if (kept.length > 0) lines.push("", `Still there${since}: ${kept.length}.`);
  } else if (closing) {
    if (issue.state === "closed") return null;
    if (verdict.kind === "clean") {
      lines.push(`**v${verdict.version}** introduces no hyp problem. Closing.`);
      list(`Fixed${since}`, removed);
    } else if (verdict.kind === "already-applied") {
      lines.push(`**v${verdict.version}** is already applied to the tree. Closing.`);
    } else {
      lines.push(
        `**v${verdict.version}** was superseded by a newer revision before it was checked. Closing; the newer revision's check reopens this issue if it finds problems.`,
      );
    }
  } else {
    if (!newVersion) return null;
    lines.push(`**v${verdict.version}** could not be judged: ${verdictWords(verdict)}.`);
    if (verdict.reason) lines.push("", `Reason: ${code(verdict.reason, 300)}`);
  }
  lines.push("", COMMENT_MARKER(token));
  const text = lines.join("\n");
  return text.length <= limit
    ? text
    : `${lines[0]}\n\n(the list of changes is over GitHub's size bound)\n\n${COMMENT_MARKER(token)}`;
}

/**
 * What to do with the series' issue for a verdict: create it (findings, no issue yet),
 * update it (and comment, close or reopen), or nothing (already done, older than what the
 * issue reports, or nothing worth an issue).
 */
export function planIssue(
  asked: ReportContext,
  issue: IssueState | null,
  idempotencyKey: string,
  options: GithubRenderOptions,
): IssuePlan {
  const context = withoutIgnored(asked);
  const { verdict, list, series } = context.current;
  const token = verdictToken(idempotencyKey);
  if (issue?.marker?.verdict === token) return { action: "none", why: "already reported" };
  if (issue?.marker && issue.marker.version > verdict.version) {
    return { action: "none", why: `the issue reports v${issue.marker.version}` };
  }
  const tokens = [
    ...new Set([...(issue?.marker?.series ?? []), seriesToken(list, series.id)]),
  ].slice(-MARKER_SERIES_LIMIT);
  const marker: IssueMarker = { series: tokens, version: verdict.version, verdict: token };
  const title = issueTitle(verdict);
  const labels = issueLabels(verdict);
  const body = issueBody(context, marker, options);
  if (!issue) {
    return verdict.kind === "findings"
      ? { action: "create", title, body, labels }
      : { action: "none", why: `no issue, and a ${verdict.kind} verdict opens none` };
  }
  const closing = CLOSING[verdict.kind];
  const state = verdict.kind === "findings" ? "open" : closing ? "closed" : issue.state;
  const stateReason =
    state === issue.state ? null : state === "open" ? "reopened" : (closing ?? null);
  const comment = changeComment(context, issue, token, options.bodyLimit ?? GITHUB_BODY_LIMIT);
  return { action: "update", title, body, labels, state, stateReason, comment };
}
