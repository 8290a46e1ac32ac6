import type { Person } from "../mail/types.js";
import type { ReportContext } from "../shapes/report.js";
import type { VerdictKind } from "../shapes/verdict.js";
import { causeEffects, causeGroups, causePlace, patchDiffs, type CauseGroup } from "./causes.js";
import { escapeText } from "./escape.js";
import { findingPlace } from "./finding-text.js";

/*
 * The digest: what a list (or a subscriber) reads once a day about the series checked in a
 * period. Pure: src/notify/digest.ts gathers the contexts and sends what this renders.
 * Everything taken from mail (subjects, names, paths, messages) is hostile: escaped for a
 * terminal in the text part, and for HTML as well in the HTML part.
 */

export interface DigestInput {
  /** The digest's name in the configuration (`digests[].name`). */
  name: string;
  /** The lists it covers; empty: every list. */
  lists: readonly string[];
  /** Verdicts recorded from `start` (inclusive) to `end` (exclusive). */
  period: { start: Date; end: Date };
  /** One per verdict recorded in the period (not `superseded`), in any order. */
  contexts: readonly ReportContext[];
  /** The lore inbox links point into, e.g. `https://lore.kernel.org/all`. */
  loreUrl: string;
  /** GitHub issue of a series, by the check key of its verdict; http(s) URLs only. */
  issues?: ReadonlyMap<string, string>;
  /** A paragraph put first (the sample says its verdicts are illustrative). */
  note?: string;
}

export interface RenderedDigest {
  subject: string;
  text: string;
  html: string;
}

/** Trailers that record a review: what the digest collects per series. */
const REVIEW_TRAILERS = ["Reviewed-by", "Acked-by", "Tested-by"] as const;

/** The verdict kinds as a reader says them, in the order the summary counts them. */
const KIND_TEXT: Record<Exclude<VerdictKind, "superseded">, string> = {
  findings: "with findings",
  clean: "clean",
  "does-not-apply": "do not apply",
  "no-base": "wait for a base",
  "already-applied": "already applied",
  "timed-out": "timed out",
  "build-failed": "failed to build",
};

const KIND_ORDER = Object.keys(KIND_TEXT) as (keyof typeof KIND_TEXT)[];

/** A trailer given on some patches of a series. */
export interface CollectedTrailer {
  name: string;
  /** The trailer's value as written (`Name <address>`). */
  value: string;
  /** 1-based patch indexes, ascending; empty when it is on every patch. */
  patches: number[];
}

/** One series of the digest: its newest revision checked in the period. */
export interface DigestSeries {
  list: string;
  checkKey: string;
  subject: string;
  version: number;
  partial: boolean;
  author: Person;
  kind: Exclude<VerdictKind, "superseded">;
  reason: string | null;
  /** The version the findings are compared with; null: first posting, or none checked. */
  previousVersion: number | null;
  lore: string;
  issue: string | null;
  /**
   * Causes (docs/json.md) with a finding the previous revision did not have (all of them
   * without one).
   */
  newCauses: CauseGroup[];
  /** Causes of the previous revision none of whose findings this one, checked, still has. */
  fixedCauses: CauseGroup[];
  /** Causes whose findings the previous revision had too. */
  stillFailing: CauseGroup[];
  /** For `no-base` and `does-not-apply`: the bases tried, one line each. */
  bases: string[];
  trailers: CollectedTrailer[];
}

export interface DigestModel {
  series: DigestSeries[];
  counts: Partial<Record<DigestSeries["kind"], number>>;
}

/** A lore link to a message: `<inbox>/<Message-ID>/`. */
export function loreLink(loreUrl: string, messageId: string): string {
  return `${loreUrl.replace(/\/+$/, "")}/${encodeURIComponent(messageId)}/`;
}

const isHttp = (url: string): boolean => /^https?:\/\/[^\s<>"']+$/i.test(url);

/** Ids that name one series across its versions: its own and its other revisions'. */
function seriesIds(context: ReportContext): string[] {
  const series = context.current.series;
  return [series.id, ...series.revisions.map((r) => r.id)];
}

/**
 * One context per series: the newest version checked in the period (of two verdicts of one
 * revision, the later), so v1 and v2 both checked on the same day are one entry, v2's.
 */
function newestPerSeries(contexts: readonly ReportContext[]): ReportContext[] {
  const sorted = [...contexts]
    .filter((c) => c.current.verdict.kind !== "superseded")
    .sort(
      (a, b) =>
        b.current.series.version - a.current.series.version ||
        b.current.verdict.recordedAt - a.current.verdict.recordedAt,
    );
  const seen = new Set<string>();
  const kept: ReportContext[] = [];
  for (const context of sorted) {
    const ids = seriesIds(context).map((id) => `${context.current.list}\0${id}`);
    if (ids.some((id) => seen.has(id))) continue;
    for (const id of ids) seen.add(id);
    kept.push(context);
  }
  return kept;
}

/** Was this verdict a finished check whose findings can be compared? */
const checked = (kind: VerdictKind): boolean => kind === "findings" || kind === "clean";

function collectTrailers(context: ReportContext): CollectedTrailer[] {
  const patches = context.current.series.patches;
  const byValue = new Map<string, CollectedTrailer>();
  for (const patch of patches) {
    for (const trailer of patch.trailers) {
      if (!(REVIEW_TRAILERS as readonly string[]).includes(trailer.name)) continue;
      const who = trailer.person?.email || trailer.value.trim().toLowerCase();
      const id = `${trailer.name}\0${who}`;
      const found = byValue.get(id) ?? { name: trailer.name, value: trailer.value, patches: [] };
      if (!found.patches.includes(patch.index)) found.patches.push(patch.index);
      byValue.set(id, found);
    }
  }
  const all = new Set(patches.map((p) => p.index));
  return [...byValue.values()]
    .map((t) => {
      const sorted = t.patches.sort((a, b) => a - b);
      const everywhere = all.size > 1 && sorted.length === all.size;
      return { ...t, patches: everywhere ? [] : sorted };
    })
    .sort(
      (a, b) =>
        REVIEW_TRAILERS.indexOf(a.name as (typeof REVIEW_TRAILERS)[number]) -
          REVIEW_TRAILERS.indexOf(b.name as (typeof REVIEW_TRAILERS)[number]) ||
        a.value.localeCompare(b.value),
    );
}

function basesTried(context: ReportContext): string[] {
  const attempts = context.current.verdict.result?.tree.attempts ?? [];
  return attempts.map((a) => {
    const ref = `${a.ref}${a.commit ? ` (${a.commit.slice(0, 12)})` : ""}`;
    if (a.outcome === "missing") return `${ref}: not in the tree`;
    if (a.outcome === "chosen") return `${ref}: applies`;
    const failure = a.failure ? `: ${a.failure.kind}` : "";
    return `${ref}: does not apply${failure}`;
  });
}

/** What the digest says, before it is written as text or HTML. */
export function digestModel(input: DigestInput): DigestModel {
  const series: DigestSeries[] = [];
  const counts: DigestModel["counts"] = {};
  for (const context of newestPerSeries(input.contexts)) {
    const { current, previous } = context;
    const verdict = current.verdict;
    const kind = verdict.kind as DigestSeries["kind"];
    counts[kind] = (counts[kind] ?? 0) + 1;
    const causes = causeGroups(verdict.result, patchDiffs(current, context.posts));
    const comparable = previous !== null && checked(previous.verdict.kind);
    const before = comparable ? causeGroups(previous.verdict.result) : [];
    const keys = (groups: readonly CauseGroup[]) =>
      new Set(groups.flatMap((g) => g.findings.map((f) => f.key)));
    const beforeKeys = keys(before);
    const nowKeys = keys(causes);
    const isNew = (g: CauseGroup) => g.findings.some((f) => !beforeKeys.has(f.key));
    const issue = input.issues?.get(verdict.checkKey);
    series.push({
      list: current.list,
      checkKey: verdict.checkKey,
      subject: current.series.subject,
      version: current.series.version,
      partial: verdict.partial,
      author: current.series.author,
      kind,
      reason: verdict.reason,
      previousVersion: comparable ? previous.series.version : null,
      lore: loreLink(input.loreUrl, current.series.id),
      issue: issue && isHttp(issue) ? issue : null,
      newCauses: causes.filter(isNew),
      fixedCauses: checked(kind)
        ? before.filter((g) => g.findings.every((f) => !nowKeys.has(f.key)))
        : [],
      stillFailing: causes.filter((g) => !isNew(g)),
      bases: kind === "no-base" || kind === "does-not-apply" ? basesTried(context) : [],
      trailers: collectTrailers(context),
    });
  }
  series.sort(
    (a, b) =>
      a.list.localeCompare(b.list) ||
      a.subject.localeCompare(b.subject) ||
      a.version - b.version ||
      a.checkKey.localeCompare(b.checkKey),
  );
  return { series, counts };
}

// ---- shared wording ----

const WIDTH = 72;

const day = (date: Date): string => date.toISOString().slice(0, 10);
const minute = (date: Date): string => `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;

function person(p: Person): string {
  return p.name ? `${p.name} <${p.email}>` : p.email;
}

function seriesTitle(s: DigestSeries): string {
  const partial = s.partial ? ", partial" : "";
  return `[${s.list}] v${s.version}${partial} ${s.subject}`;
}

function countLine(model: DigestModel): string {
  const total = model.series.length;
  if (total === 0) return "No series was checked in this period.";
  const parts = KIND_ORDER.filter((k) => model.counts[k]).map(
    (k) => `${model.counts[k]} ${KIND_TEXT[k]}`,
  );
  return `${total} series checked: ${parts.join(", ")}.`;
}

/**
 * A cause in a few lines: what (and the patch that brought it, if asked), where (its one
 * place as the author wrote it, or its line), then, if asked, what it affects.
 */
function causeLines(group: CauseGroup, withPatch = true, withEffects = false): string[] {
  const { cause, findings } = group;
  const patch = withPatch && cause.introducedBy ? ` (patch\u00a0${cause.introducedBy})` : "";
  const counted = findings.length > 1 ? `, ${findings.length}\u00a0findings` : "";
  const places = [...new Set(findings.filter((f) => f.kind !== "section").map(findingPlace))];
  const [only] = places;
  const where =
    places.length === 1 && only && cause.change !== "removed" ? only : causePlace(cause);
  const lines = [`${cause.severity} ${cause.rules.join(", ")}${patch}${counted}`, `  ${where}`];
  if (withEffects) lines.push(...causeEffects(group).map((effect) => `  ${effect}`));
  return lines;
}

/** `1-3, 5` for patches 1, 2, 3 and 5. */
export function patchRanges(indexes: readonly number[]): string {
  const out: string[] = [];
  let i = 0;
  while (i < indexes.length) {
    const first = indexes[i] as number;
    let last = first;
    while (indexes[i + 1] === last + 1) last = indexes[++i] as number;
    out.push(first === last ? String(first) : `${first}-${last}`);
    i++;
  }
  return out.join(", ");
}

function trailerWhere(t: CollectedTrailer): string {
  if (t.patches.length === 0) return "all\u00a0patches";
  // Kept on one line by the no-break space: a number alone on a line reads badly.
  return `${t.patches.length === 1 ? "patch" : "patches"}\u00a0${patchRanges(t.patches)}`;
}

function period(input: DigestInput): string {
  return `${minute(input.period.start)} to ${minute(input.period.end)}`;
}

function listsLine(input: DigestInput): string {
  return input.lists.length === 0 ? "all lists" : input.lists.join(", ");
}

interface Section {
  title: string;
  series: DigestSeries[];
  /** The lines under a series' title, unescaped. */
  items: (s: DigestSeries) => string[];
}

function sections(model: DigestModel): Section[] {
  const all: Section[] = [
    {
      title: "New findings",
      series: model.series.filter((s) => s.newCauses.length > 0),
      items: (s) =>
        s.newCauses.flatMap((g) => [
          ...causeLines(g, true, true),
          ...(g.cause.fixedBy ? [`  (removed again by patch\u00a0${g.cause.fixedBy})`] : []),
        ]),
    },
    {
      title: "Fixed findings",
      series: model.series.filter((s) => s.fixedCauses.length > 0),
      items: (s) => [
        `fixed since v${s.previousVersion}:`,
        // Their patch numbers are the previous version's: left out.
        ...s.fixedCauses.flatMap((g) => causeLines(g, false)),
      ],
    },
    {
      title: "Still failing",
      series: model.series.filter((s) => s.stillFailing.length > 0),
      items: (s) => [
        `still there since v${s.previousVersion}:`,
        ...s.stillFailing.flatMap((g) => causeLines(g)),
      ],
    },
    {
      title: "Waiting for a base, or not applying",
      series: model.series.filter((s) => s.kind === "no-base" || s.kind === "does-not-apply"),
      items: (s) => [
        s.kind === "no-base"
          ? "waiting for a base: none of the bases tried is in the tree"
          : "does not apply to any base tried",
        ...s.bases.map((b) => `  ${b}`),
      ],
    },
    {
      title: "Checks that did not finish",
      series: model.series.filter((s) => s.kind === "timed-out" || s.kind === "build-failed"),
      items: (s) => [`${KIND_TEXT[s.kind]}${s.reason ? `: ${s.reason}` : ""}`],
    },
    {
      title: "Review trailers collected",
      series: model.series.filter((s) => s.trailers.length > 0),
      items: (s) => s.trailers.map((t) => `${t.name}: ${t.value} (${trailerWhere(t)})`),
    },
  ];
  return all.filter((section) => section.series.length > 0);
}

// ---- plain text ----

/**
 * Words of `text` in lines of at most `width` columns, the first after `first`, the rest
 * after `rest`; a word longer than a line (a URL) stands alone on its line, whole. A
 * no-break space glues two words (`patch 3`) and is written as a space.
 */
export function wrap(text: string, first: string, rest = first, width = WIDTH): string[] {
  const words = text.split(" ").filter(Boolean);
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of words) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest;
      empty = true;
    }
    line += empty ? word : ` ${word}`;
    empty = false;
  }
  lines.push(line);
  return lines.map((l) => l.replace(/\u00a0/g, " "));
}

function textSeries(s: DigestSeries, items: string[]): string[] {
  const e = escapeText;
  const out = wrap(e(seriesTitle(s)), "* ", "  ");
  for (const item of items) {
    const indent = /^ +/.exec(item)?.[0] ?? "";
    out.push(...wrap(e(item.trimStart()), `    ${indent}`, `      ${indent}`));
  }
  out.push(`    <${s.lore}>`);
  return out;
}

function renderText(input: DigestInput, model: DigestModel): string {
  const e = escapeText;
  const out: string[] = [];
  out.push(...wrap(`hypwatch digest "${e(input.name)}"`, ""));
  out.push(`Period: ${period(input)}`);
  out.push(...wrap(`Lists: ${e(listsLine(input))}`, ""));
  out.push("");
  if (input.note) out.push(...wrap(e(input.note), ""), "");
  out.push(...wrap(countLine(model), ""));
  if (model.series.length > 0) {
    out.push("", "Series checked", "--------------");
    for (const s of model.series) {
      out.push(...wrap(e(seriesTitle(s)), "* ", "  "));
      out.push(...wrap(`${KIND_TEXT[s.kind]}; from ${e(person(s.author))}`, "    ", "      "));
      out.push(`    <${s.lore}>`);
      if (s.issue) out.push(`    issue: <${s.issue}>`);
    }
  }
  for (const section of sections(model)) {
    out.push("", section.title, "-".repeat(section.title.length));
    for (const s of section.series) out.push(...textSeries(s, section.items(s)));
  }
  out.push(
    "",
    "-- ",
    ...wrap(
      "hypwatch checks the arm64 KVM hypervisor code of patch series with the " +
        "real compiler. Findings are those a series introduces, compared with its base.",
      "",
    ),
  );
  // "-- " keeps its space: it is the signature separator.
  return `${out.map((l) => (l === "-- " ? l : l.replace(/ +$/, ""))).join("\n")}\n`;
}

// ---- HTML ----

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Text from mail for an HTML element or attribute: control characters shown, markup escaped. */
export function escapeHtml(text: string): string {
  return escapeText(text).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

function link(url: string, label: string): string {
  if (!isHttp(url)) return escapeHtml(label);
  return `<a href="${escapeHtml(url)}">${escapeHtml(label)}</a>`;
}

function htmlSeries(s: DigestSeries, items: string[]): string {
  const h = escapeHtml;
  const issue = s.issue ? ` &middot; ${link(s.issue, "issue")}` : "";
  const lines = items.map((item) =>
    item.startsWith("  ") ? `<li class="detail">${h(item.trim())}</li>` : `<li>${h(item)}</li>`,
  );
  return (
    `<li>${link(s.lore, seriesTitle(s))}${issue}` +
    (lines.length > 0 ? `<ul>${lines.join("")}</ul>` : "") +
    `</li>`
  );
}

function renderHtml(input: DigestInput, model: DigestModel, subject: string): string {
  const h = escapeHtml;
  const out: string[] = [
    "<!doctype html>",
    '<html><head><meta charset="utf-8">',
    `<title>${h(subject)}</title>`,
    "<style>body{font-family:sans-serif;max-width:60em}li.detail{list-style:none;" +
      "font-family:monospace}h2{font-size:1.1em;border-bottom:1px solid #ccc}</style>",
    "</head><body>",
    `<h1>hypwatch digest &ldquo;${h(input.name)}&rdquo;</h1>`,
    `<p>${h(period(input))}<br>Lists: ${h(listsLine(input))}</p>`,
  ];
  if (input.note) out.push(`<p><em>${h(input.note)}</em></p>`);
  out.push(`<p>${h(countLine(model))}</p>`);
  if (model.series.length > 0) {
    out.push("<h2>Series checked</h2><ul>");
    for (const s of model.series)
      out.push(htmlSeries(s, [`${KIND_TEXT[s.kind]}; from ${person(s.author)}`]));
    out.push("</ul>");
  }
  for (const section of sections(model)) {
    out.push(`<h2>${h(section.title)}</h2><ul>`);
    for (const s of section.series) out.push(htmlSeries(s, section.items(s)));
    out.push("</ul>");
  }
  out.push(
    "<hr><p><small>hypwatch checks the arm64 KVM hypervisor code of patch series with the " +
      "real compiler. Findings are those a series introduces, compared with its base.</small></p>",
    "</body></html>",
  );
  return `${out.join("\n")}\n`;
}

function renderSubject(input: DigestInput, model: DigestModel): string {
  const newFindings = model.series.filter((s) => s.newCauses.length > 0).length;
  const fixed = model.series.filter((s) => s.fixedCauses.length > 0).length;
  const parts = [`${model.series.length} series checked`];
  if (newFindings > 0) parts.push(`${newFindings} with new findings`);
  if (fixed > 0) parts.push(`${fixed} with fixes`);
  // The name is the configuration's; it is escaped all the same, as a header must be one line.
  return `[hypwatch] ${escapeText(input.name)} digest ${day(input.period.end)}: ${parts.join(", ")}`;
}

/** The digest of a period as a mail's subject, plain text (utf-8, 72 columns) and HTML. */
export function renderDigest(input: DigestInput): RenderedDigest {
  const model = digestModel(input);
  const subject = renderSubject(input, model);
  return { subject, text: renderText(input, model), html: renderHtml(input, model, subject) };
}
