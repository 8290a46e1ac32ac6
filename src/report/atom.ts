import { XMLBuilder } from "fast-xml-parser";
import type { Verdict } from "../shapes/verdict.js";
import { causeGroups, causePlace } from "./causes.js";
import { problemCounts, httpUrl, loreMessageUrl, seriesPagePath, showUnsafe } from "./html.js";

/*
 * The Atom 1.0 feed of verdicts (RFC 4287, docs/dashboard.md) for other trackers. Entry ids
 * are tag: URIs of the check key, so an entry keeps its id however often the feed is read;
 * links to the dashboard are relative to the feed, so the feed works under any base path.
 */

/** Every id of the feed starts here (RFC 4151); it must never change. */
export const TAG_PREFIX = "tag:hypwatch,2025:";

export interface AtomEntryInput {
  verdict: Verdict;
  /** The series' issue as the ledger holds it; linked only when it is an http(s) URL. */
  issueUrl: string | null;
}

export interface AtomFeedInput {
  entries: AtomEntryInput[];
  loreUrl: string;
  /** The feed's `updated` when it has no entry. */
  now: number;
}

/** Characters XML 1.0 cannot carry at all (builders escape markup, not these). */
const NOT_XML = /[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu;

/** Mail text as feed text: unsafe characters shown as `U+202E`, none XML refuses. */
function text(value: string): string {
  return showUnsafe(value).replace(
    NOT_XML,
    (c) => `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`,
  );
}

const iso = (ms: number) => new Date(ms).toISOString();

/** One line per cause, a few at most: what a tracker shows under the title. */
function summaryOf(v: Verdict): string {
  const lines: string[] = [];
  if (v.result) {
    const { errors, warnings } = problemCounts(v);
    lines.push(`${v.kind}: ${errors} error(s), ${warnings} warning(s)`);
    const causes = causeGroups(v.result);
    for (const { cause } of causes.slice(0, 10)) {
      const what = [...cause.symbols, ...cause.instrumentation].join(", ");
      lines.push(
        `${cause.severity} ${cause.rules.join(", ")}${what ? ` ${what}` : ""} at ${causePlace(cause)} (patch ${cause.introducedBy})`,
      );
    }
    if (causes.length > 10) lines.push(`and ${causes.length - 10} more`);
  } else lines.push(v.kind);
  if (v.reason) lines.push(v.reason);
  return text(lines.join("\n"));
}

function entry(e: AtomEntryInput, loreUrl: string) {
  const v = e.verdict;
  const issue = httpUrl(e.issueUrl);
  return {
    id: `${TAG_PREFIX}verdict/${encodeURIComponent(v.checkKey)}`,
    title: {
      "@_type": "text",
      "#text": text(
        `[${v.list}] v${v.version} ${v.subject}: ${v.kind}${v.partial ? " (partial)" : ""}`,
      ),
    },
    updated: iso(v.recordedAt),
    link: [
      { "@_rel": "alternate", "@_type": "text/html", "@_href": seriesPagePath(v.checkKey) },
      {
        "@_rel": "related",
        "@_type": "text/html",
        "@_title": "lore",
        "@_href": loreMessageUrl(loreUrl, v.seriesId),
      },
      ...(issue ? [{ "@_rel": "related", "@_title": "issue", "@_href": issue }] : []),
    ],
    category: { "@_term": v.kind },
    summary: { "@_type": "text", "#text": summaryOf(v) },
  };
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  textNodeName: "#text",
  format: true,
  suppressEmptyNode: true,
});

/** The feed of `entries` (newest first, as given). */
export function renderAtomFeed(input: AtomFeedInput): string {
  const newest = input.entries[0]?.verdict.recordedAt ?? input.now;
  return builder.build({
    "?xml": { "@_version": "1.0", "@_encoding": "utf-8" },
    feed: {
      "@_xmlns": "http://www.w3.org/2005/Atom",
      id: `${TAG_PREFIX}verdicts`,
      title: "hypwatch verdicts",
      subtitle: "arm64 KVM hyp checks of patch series posted to the Linux kernel lists",
      updated: iso(newest),
      link: [
        { "@_rel": "self", "@_type": "application/atom+xml", "@_href": "verdicts.atom" },
        { "@_rel": "alternate", "@_type": "text/html", "@_href": "./" },
      ],
      author: { name: "hypwatch" },
      generator: "hypwatch",
      entry: input.entries.map((e) => entry(e, input.loreUrl)),
    },
  }) as string;
}
