import { createHash } from "node:crypto";
import type { AttributedFinding } from "../check/index.js";
import type { Hunk } from "../mail/types.js";
import type { Series } from "../series/types.js";
import type { CheckedPatch } from "../shapes/check.js";
import type { ReportContext, ThreadPost } from "../shapes/report.js";
import type { Verdict, VerdictKind } from "../shapes/verdict.js";
import { causeEffects, causeGroups, causePlace, patchDiffs, type CauseGroup } from "./causes.js";

/*
 * The dashboard's pages (docs/dashboard.md), rendered from data the service reads. Every
 * string shown here came from mail: subjects, names, paths, Message-IDs, function names.
 * Text goes through `escapeHtml`, attributes through `escapeAttr`, and every URL is built
 * with encodeURIComponent or checked by `httpUrl`. Nothing of a tool's raw output is shown.
 */

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Characters a page must not show as they are: controls (but tab and newline), the bidi
 * embeddings, overrides, isolates and marks that reorder what is read ("Trojan Source"),
 * invisible joiners and separators, and unpaired surrogates.
 */
const UNSAFE =
  // Matching control characters is the point here.
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const codePoint = (c: string): string =>
  `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;

/**
 * Text for an HTML element's content: markup characters as entities, and each unsafe
 * character as a visible, styled `U+202E` (mail cannot produce the markup that marks it).
 */
export function escapeHtml(text: string): string {
  return text
    .replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c)
    .replace(UNSAFE, (c) => `<span class="esc">${codePoint(c)}</span>`);
}

/** Each unsafe character as plain `U+202E`: for text that is escaped elsewhere (XML). */
export function showUnsafe(text: string): string {
  return text.replace(UNSAFE, codePoint);
}

/** Text for a quoted attribute value: as `escapeHtml`, unsafe characters as plain `U+202E`. */
export function escapeAttr(text: string): string {
  return showUnsafe(text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c));
}

/** A message on lore: `<base>/<Message-ID, percent-encoded>/`. */
export function loreMessageUrl(base: string, messageId: string): string {
  return `${base.replace(/\/+$/, "")}/${encodeURIComponent(messageId)}/`;
}

/** The text as an http(s) URL (normalized), or null: no `javascript:`, `data:` or relative. */
export function httpUrl(text: string | null | undefined): string | null {
  if (!text) return null;
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return null;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
}

/** A verdict's page, relative to the dashboard's root (it may be served under a path). */
export function seriesPagePath(checkKey: string): string {
  return `series/${encodeURIComponent(checkKey)}`;
}

const CSS = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#5a636e;--line:#d8dee4;--bg:#fff;--code:#f6f8fa;
--add:#e6ffec;--del:#ffebe9;--hit:#fff3b0;--bad:#b3261e;--ok:#1a7f37;--warn:#9a6700}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9aa4ae;--line:#30363d;--bg:#0d1117;
--code:#161b22;--add:#12361f;--del:#3d1517;--hit:#4b3f00;--bad:#ff7b72;--ok:#56d364;--warn:#e3b341}}
body{font:14px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;max-width:1200px;padding:0 16px 32px}
header{display:flex;align-items:baseline;gap:16px;border-bottom:1px solid var(--line);padding:12px 0;margin-bottom:12px}
header .brand{font-weight:700;font-size:16px;color:var(--fg);text-decoration:none}
header nav{margin-left:auto;display:flex;gap:12px}
a{color:#0969da}@media (prefers-color-scheme:dark){a{color:#58a6ff}}
h1{font-size:19px;margin:8px 0 4px;overflow-wrap:anywhere}h2{font-size:16px;margin:20px 0 8px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}
td.subject{overflow-wrap:anywhere}td.num,th.num{text-align:right;white-space:nowrap}
.muted,time{color:var(--muted)}.nowrap{white-space:nowrap}
.kind{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;border:1px solid currentColor;white-space:nowrap}
.kind-findings,.kind-build-failed,.kind-error{color:var(--bad)}.kind-clean{color:var(--ok)}
.kind-timed-out,.kind-does-not-apply,.kind-no-base,.kind-warning{color:var(--warn)}
.kind-superseded,.kind-already-applied{color:var(--muted)}
.esc{font:11px monospace;border:1px solid var(--bad);color:var(--bad);border-radius:3px;padding:0 2px;margin:0 1px}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0}.meta dt{color:var(--muted)}.meta dd{margin:0;overflow-wrap:anywhere}
.finding{border:1px solid var(--line);border-radius:6px;padding:8px 12px;margin:10px 0}
.cause{font-weight:600;margin-top:14px}
.finding .where{font-family:ui-monospace,monospace;overflow-wrap:anywhere}
code{font-family:ui-monospace,monospace;font-size:13px}
ol.chain{margin:4px 0;padding-left:22px;font-family:ui-monospace,monospace;font-size:13px}
pre.hunk{background:var(--code);border:1px solid var(--line);border-radius:6px;padding:6px 0;overflow-x:auto;font:12.5px/1.4 ui-monospace,monospace;margin:8px 0 4px;tab-size:8}
pre.hunk span{display:block;padding:0 10px;white-space:pre}pre.hunk .hdr{color:var(--muted)}
pre.hunk .add{background:var(--add)}pre.hunk .del{background:var(--del)}pre.hunk .hit{background:var(--hit);font-weight:600}
pre.hunk i{display:inline-block;width:4.5em;color:var(--muted);font-style:normal;user-select:none}
.current{font-weight:600}
`.trim();

/**
 * The page's Content-Security-Policy: nothing loads or runs but the one inline stylesheet
 * above, named by its hash; no scripts, forms, frames or base URL changes.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash("sha256").update(CSS).digest("base64")}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** `root`: the relative way back to the dashboard's root from this page (`./`, `../`). */
function page(title: string, root: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeAttr(title)}</title>
<link rel="alternate" type="application/atom+xml" title="hypwatch verdicts" href="${root}verdicts.atom">
<style>${CSS}</style>
</head>
<body>
<header><a class="brand" href="${root}">hypwatch</a><span class="muted">arm64 KVM hyp checks of list patches</span>
<nav><a href="${root}api/verdicts">JSON</a><a href="${root}verdicts.atom">Atom</a></nav></header>
${body}
</body>
</html>
`;
}

/** "12 s", "5 min", "2.5 h": a duration, roughly. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** An ISO date from mail as `2026-11-25 18:48 UTC`; as given when it does not parse. */
function dateText(iso: string): string {
  const ms = Date.parse(iso);
  return Number.isNaN(ms)
    ? iso
    : `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** "5 min ago": how long before `now`, roughly. */
export function age(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function time(ms: number, now: number): string {
  const iso = new Date(ms).toISOString();
  return `<time datetime="${iso}" title="${iso.slice(0, 16).replace("T", " ")} UTC">${age(ms, now)}</time>`;
}

const KIND_TEXT: Record<VerdictKind, string> = {
  findings: "findings",
  clean: "clean",
  "does-not-apply": "does not apply",
  "already-applied": "already applied",
  "no-base": "no base",
  "timed-out": "timed out",
  "build-failed": "build failed",
  superseded: "superseded",
};

function kindBadge(kind: VerdictKind, partial = false): string {
  return `<span class="kind kind-${kind}">${KIND_TEXT[kind]}${partial ? " (partial)" : ""}</span>`;
}

/**
 * Errors and warnings a verdict reports, counted by cause as every text counts them
 * (docs/json.md; none without a check result).
 */
export function problemCounts(verdict: Verdict): { errors: number; warnings: number } {
  const causes = causeGroups(verdict.result);
  const errors = causes.filter((g) => g.cause.severity === "error").length;
  return { errors, warnings: causes.length - errors };
}

function countsCell(verdict: Verdict): string {
  if (!verdict.result) return `<span class="muted">–</span>`;
  const { errors, warnings } = problemCounts(verdict);
  const part = (n: number, word: string, cls: string) =>
    n > 0 ? `<span class="kind-${cls}">${n} ${word}${n === 1 ? "" : "s"}</span>` : "";
  return (
    [part(errors, "error", "error"), part(warnings, "warning", "warning")]
      .filter(Boolean)
      .join(", ") || `<span class="muted">0</span>`
  );
}

function link(href: string, text: string, rel = "noopener noreferrer"): string {
  return `<a href="${escapeAttr(href)}" rel="${rel}">${text}</a>`;
}

/** Links a verdict has outside the dashboard: its lore message and its issue. */
function outsideLinks(loreUrl: string, seriesId: string, issueUrl: string | null): string {
  const issue = httpUrl(issueUrl);
  return [
    link(loreMessageUrl(loreUrl, seriesId), "lore"),
    issue ? link(issue, "issue") : `<span class="muted">no issue</span>`,
  ].join(" · ");
}

export interface IndexRow {
  verdict: Verdict;
  /** The series' GitHub issue as the ledger holds it; shown only when it is an http(s) URL. */
  issueUrl: string | null;
}

export interface IndexPageInput {
  rows: IndexRow[];
  /** Verdicts stored in all (the page shows the newest). */
  total: number;
  /** lore inbox base, e.g. https://lore.kernel.org/all */
  loreUrl: string;
  now: number;
}

/** The dashboard's front page: the newest verdicts, newest first. */
export function renderIndexPage(input: IndexPageInput): string {
  const rows = input.rows.map(({ verdict: v, issueUrl }) => {
    return `<tr>
<td class="nowrap">${time(v.recordedAt, input.now)}</td>
<td class="nowrap">${escapeHtml(v.list)}</td>
<td class="subject"><a href="${escapeAttr(seriesPagePath(v.checkKey))}">${escapeHtml(v.subject)}</a></td>
<td class="num">v${v.version}</td>
<td>${kindBadge(v.kind, v.partial)}</td>
<td class="nowrap">${countsCell(v)}</td>
<td class="nowrap">${outsideLinks(input.loreUrl, v.seriesId, issueUrl)}</td>
</tr>`;
  });
  const body =
    rows.length === 0
      ? `<h1>Verdicts</h1><p class="muted">No verdict yet.</p>`
      : `<h1>Verdicts</h1>
<p class="muted">The newest ${rows.length} of ${input.total}, newest first.</p>
<table>
<thead><tr><th>when</th><th>list</th><th>series</th><th class="num">version</th><th>verdict</th><th>findings</th><th>links</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>`;
  return page("hypwatch: verdicts", "./", body);
}

/** Another revision of the same series, for the series page's list of revisions. */
export interface RevisionSummary {
  version: number;
  /** Null when that revision was never checked. */
  checkKey: string | null;
  kind: VerdictKind | null;
  partial: boolean;
  recordedAt: number | null;
}

export interface SeriesPageInput {
  context: ReportContext;
  /** Every revision of the series the store knows, the current one included. */
  revisions: RevisionSummary[];
  issueUrl: string | null;
  loreUrl: string;
  now: number;
}

/** One line of a quoted hunk, with its line number in the patched file (null for `-`). */
export interface QuotedLine {
  text: string;
  newLine: number | null;
  target: boolean;
}

/** The lines of a patch around where a finding is, as the patch was mailed. */
export interface QuotedHunk {
  messageId: string;
  patchIndex: number;
  path: string;
  /** `@@ -a,b +c,d @@ section` */
  header: string;
  lines: QuotedLine[];
  /** Lines of the hunk left out before and after the quote. */
  before: number;
  after: number;
}

function hunkHeader(h: Hunk): string {
  return `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@${h.section ? ` ${h.section}` : ""}`;
}

/** Where a finding may be in a patch: its own place, then its inline chain, then its guard. */
function placesOf(f: AttributedFinding): { file: string; line: number }[] {
  const places = [
    { file: f.file, line: f.line },
    ...f.inlineChain.map((frame) => ({ file: frame.file, line: frame.line })),
    ...(f.makefile ? [{ file: f.makefile.file, line: f.makefile.line }] : []),
  ];
  return places.filter((p): p is { file: string; line: number } => !!p.file && p.line !== null);
}

/**
 * The hunk lines of the patch that introduced a finding, around the finding's line: the
 * first of its places (file:line, then its inline chain, then its Makefile guard) that the
 * patch's diff covers; null when the patch does not touch any of them or was not kept.
 */
export function quoteFinding(
  finding: AttributedFinding,
  series: Series,
  posts: ReadonlyMap<string, ThreadPost>,
  contextLines = 4,
): QuotedHunk | null {
  const patch = series.patches.find((p) => p.index === finding.introducedBy);
  const post = patch ? posts.get(patch.messageId) : undefined;
  if (!patch || !post) return null;
  for (const place of placesOf(finding)) {
    for (const file of post.files) {
      if (file.newPath !== place.file || file.binary) continue;
      for (const hunk of file.hunks) {
        if (place.line < hunk.newStart || place.line >= hunk.newStart + hunk.newLines) continue;
        let next = hunk.newStart;
        const lines: QuotedLine[] = hunk.lines.map((text) => {
          const marker = text[0];
          const newLine = marker === " " || marker === "+" ? next++ : null;
          return { text, newLine, target: newLine === place.line };
        });
        const at = lines.findIndex((l) => l.target);
        if (at < 0) continue;
        const from = Math.max(0, at - contextLines);
        const to = Math.min(lines.length, at + contextLines + 1);
        return {
          messageId: patch.messageId,
          patchIndex: patch.index,
          path: place.file,
          header: hunkHeader(hunk),
          lines: lines.slice(from, to),
          before: from,
          after: lines.length - to,
        };
      }
    }
  }
  return null;
}

function renderQuote(q: QuotedHunk, loreUrl: string): string {
  const lines = q.lines.map((l) => {
    const cls = l.target ? "hit" : l.text[0] === "+" ? "add" : l.text[0] === "-" ? "del" : "ctx";
    return `<span class="${cls}"><i>${l.newLine ?? ""}</i>${escapeHtml(l.text)}</span>`;
  });
  const gap = (n: number, where: string) =>
    n > 0 ? [`<span class="hdr"><i></i>… ${n} line${n === 1 ? "" : "s"} ${where}</span>`] : [];
  return `<div class="muted">quoted from ${link(loreMessageUrl(loreUrl, q.messageId), `patch ${q.patchIndex}`)}, <code>${escapeHtml(q.path)}</code>:</div>
<pre class="hunk"><span class="hdr"><i></i>${escapeHtml(q.header)}</span>${[...gap(q.before, "above"), ...lines, ...gap(q.after, "below")].join("")}</pre>`;
}

function place(file: string | null, line: number | null): string {
  return file ? `${escapeHtml(file)}${line !== null ? `:${line}` : ""}` : "";
}

/** A quote's identity: findings at the same place share one quote on the page. */
const quoteId = (q: QuotedHunk) => `${q.messageId}\0${q.path}\0${q.header}\0${q.before}`;

/** A cause (docs/json.md) above its findings: where, and what it affects. */
function causeHeading(group: CauseGroup): string {
  const { cause } = group;
  const effects = causeEffects(group).map((e) => `<div>${escapeHtml(e)}</div>`);
  return [
    `<div class="cause"><span class="kind kind-${cause.severity}">${cause.severity}</span> <code>${escapeHtml(causePlace(cause))}</code> <span class="muted">(patch ${cause.introducedBy}, ${group.findings.length} finding${group.findings.length === 1 ? "" : "s"})</span></div>`,
    ...effects,
  ].join("\n");
}

function renderFinding(
  f: AttributedFinding,
  series: Series,
  posts: ReadonlyMap<string, ThreadPost>,
  loreUrl: string,
  quoted: Set<string>,
): string {
  const where = place(f.file, f.line) || escapeHtml(f.object ?? "?");
  const fn = f.function ? ` in <code>${escapeHtml(f.function)}()</code>` : "";
  const out = [
    `<div class="finding">`,
    `<div><span class="kind kind-${f.severity}">${f.severity}</span> <code>${escapeHtml(f.rule)}</code> <code>${escapeHtml(f.symbol)}</code></div>`,
    `<div class="where">${where}${fn}</div>`,
    `<div>${escapeHtml(f.message)}</div>`,
  ];
  if (f.inlineChain.length > 1) {
    out.push(
      `<div class="muted">inlined, innermost first:</div><ol class="chain">`,
      ...f.inlineChain.map(
        (fr) =>
          `<li>${escapeHtml(fr.function)}() <span class="muted">${place(fr.file, fr.line)}</span></li>`,
      ),
      `</ol>`,
    );
  }
  if (f.flags?.length)
    out.push(`<div>let in by <code>${escapeHtml(f.flags.join(" "))}</code></div>`);
  if (f.makefile) out.push(`<div class="muted">${escapeHtml(f.makefile.note)}</div>`);
  const patch = series.patches.find((p) => p.index === f.introducedBy);
  const introduced = patch
    ? link(loreMessageUrl(loreUrl, patch.messageId), `patch ${f.introducedBy}`)
    : `patch ${f.introducedBy}`;
  out.push(
    `<div class="muted">introduced by ${introduced}${f.fixedBy !== null ? `, removed again by patch ${f.fixedBy}` : ""}; config <code>${escapeHtml(f.config)}</code></div>`,
  );
  const quote = quoteFinding(f, series, posts);
  if (quote && quoted.has(quoteId(quote)))
    out.push(`<div class="muted">at the place quoted above</div>`);
  else if (quote) {
    quoted.add(quoteId(quote));
    out.push(renderQuote(quote, loreUrl));
  }
  out.push(`</div>`);
  return out.join("\n");
}

function patchState(p: CheckedPatch | undefined): string {
  if (!p) return `<span class="muted">not checked</span>`;
  if (!p.applied) return p.failure ? `not applied (${escapeHtml(p.failure)})` : "not tried";
  return p.changesHypBuild === false ? "applied; no hyp build input changed" : "applied";
}

const BASE_REASON: Record<string, string> = {
  "base-commit": "the series' base-commit",
  candidate: "a configured base",
  head: "the tree's HEAD",
  requested: "requested",
};

/** One verdict with its series: findings with their quoted hunks, patches, other revisions. */
export function renderSeriesPage(input: SeriesPageInput): string {
  const { context, loreUrl, now } = input;
  const { series, verdict: v, list } = context.current;
  const result = v.result;
  const meta: [string, string][] = [
    ["list", escapeHtml(list)],
    [
      "author",
      `${escapeHtml(series.author.name)} <span class="muted">&lt;${escapeHtml(series.author.email)}&gt;</span>`,
    ],
    [
      "posted",
      series.date ? escapeHtml(dateText(series.date)) : `<span class="muted">unknown</span>`,
    ],
    [
      "patches",
      `${series.patches.length} of ${series.total}${series.complete ? "" : " (incomplete)"}`,
    ],
    ["links", outsideLinks(loreUrl, series.id, input.issueUrl)],
    [
      "verdict",
      `${kindBadge(v.kind, v.partial)} ${time(v.recordedAt, now)}${v.reason ? ` — ${escapeHtml(v.reason)}` : ""}`,
    ],
    ["latency", `${duration(v.latencyMs)} after the series' last mail`],
  ];
  if (result) {
    const base = result.tree.baseCommit;
    meta.push(
      [
        "base",
        base
          ? `<code>${escapeHtml(base.slice(0, 12))}</code>${result.tree.baseChosenBy ? ` <span class="muted">(${BASE_REASON[result.tree.baseChosenBy] ?? ""})</span>` : ""}`
          : `<span class="muted">none took the series</span>`,
      ],
      ["configs", escapeHtml(result.configs.join(", "))],
    );
  }
  meta.push(["analyzer", `<code>${escapeHtml(v.analyzer)}</code>`]);

  const sections = [
    `<h1>${escapeHtml(v.subject)} <span class="muted">v${v.version}</span></h1>`,
    `<dl class="meta">${meta.map(([k, val]) => `<dt>${k}</dt><dd>${val}</dd>`).join("")}</dl>`,
  ];

  if (result && result.findings.length > 0) {
    const { errors, warnings } = problemCounts(v);
    const quoted = new Set<string>();
    sections.push(
      `<h2>Findings <span class="muted">(${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"} by cause; ${result.findings.length} finding${result.findings.length === 1 ? "" : "s"})</span></h2>`,
      ...causeGroups(result, patchDiffs(context.current, context.posts)).flatMap((group) => [
        causeHeading(group),
        ...group.findings.map((f) => renderFinding(f, series, context.posts, loreUrl, quoted)),
      ]),
    );
  }
  if (result && result.buildProblems.length > 0) {
    sections.push(
      `<h2>Builds without a verdict</h2><ul>`,
      ...result.buildProblems.map(
        (b) =>
          `<li><code>${escapeHtml(b.config)}</code> ${b.step === 0 ? "of the base" : `after patch ${b.step}`}: ${
            b.bound
              ? `stopped at its ${escapeHtml(b.bound)} bound`
              : b.timedOut
                ? "timed out"
                : `failed (${escapeHtml(b.failedTargets.join(", ")) || "no target named"})`
          }</li>`,
      ),
      `</ul>`,
    );
  }

  const checked = new Map((result?.patches ?? []).map((p) => [p.index, p]));
  sections.push(
    `<h2>Patches</h2><table><thead><tr><th class="num">#</th><th>subject</th><th>state</th><th class="num">findings</th></tr></thead><tbody>`,
    ...series.patches.map((p) => {
      const n = result?.findings.filter((f) => f.introducedBy === p.index).length ?? 0;
      return `<tr><td class="num">${p.index}</td><td class="subject">${link(loreMessageUrl(loreUrl, p.messageId), escapeHtml(p.subject))}</td><td>${patchState(checked.get(p.index))}</td><td class="num">${n > 0 ? n : `<span class="muted">0</span>`}</td></tr>`;
    }),
    `</tbody></table>`,
  );

  const revisions = [...input.revisions].sort((a, b) => b.version - a.version);
  if (revisions.length > 0)
    sections.push(
      `<h2>Revisions</h2><table><thead><tr><th class="num">version</th><th>verdict</th><th>when</th></tr></thead><tbody>`,
      ...revisions.map((r) => {
        const current = r.checkKey === v.checkKey;
        const version =
          r.checkKey && !current
            ? `<a href="${escapeAttr(encodeURIComponent(r.checkKey))}">v${r.version}</a>`
            : `v${r.version}`;
        return `<tr${current ? ` class="current"` : ""}><td class="num">${version}</td><td>${
          r.kind ? kindBadge(r.kind, r.partial) : `<span class="muted">not checked</span>`
        }${current ? ` <span class="muted">(this page)</span>` : ""}</td><td>${r.recordedAt !== null ? time(r.recordedAt, now) : ""}</td></tr>`;
      }),
      `</tbody></table>`,
    );

  return page(`hypwatch: v${v.version} ${v.subject}`, "../", sections.join("\n"));
}
