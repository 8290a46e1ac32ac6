import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import type { CheckResult } from "../shapes/check.js";
import type { Verdict } from "../shapes/verdict.js";
import { renderAtomFeed, TAG_PREFIX } from "./atom.js";

const LORE = "https://lore.kernel.org/all";
const NOW = Date.parse("2026-11-26T10:00:00Z");
const SWITCH_H = "arch/arm64/kvm/hyp/include/hyp/switch.h";

/** The example's verdict as `hypwatch check` gave it (docs/json.md), abridged to its finding. */
function findingsVerdict(overrides: Partial<Verdict> = {}): Verdict {
  const result: CheckResult = {
    tree: {
      path: "/work/trees/linux-source-6.1",
      era: "modern",
      baseCommit: "a54fbb4e9f24fdb5bb3dda097180850800a575cb",
      baseChosenBy: "head",
      attempts: [],
      baseReused: [],
    },
    series: {
      subject: "KVM: arm64: Say more about GICv2 CPU interface traps and VHE panics",
      version: 1,
    },
    patches: [],
    findings: [
      {
        rule: "hyp/undefined-symbol",
        severity: "error",
        kind: "symbol",
        symbol: "_printk",
        file: SWITCH_H,
        line: 448,
        function: "kvm_hyp_handle_dabt_low",
        inlineChain: [{ function: "kvm_hyp_handle_dabt_low", file: SWITCH_H, line: 448 }],
        config: "defconfig",
        message: "nVHE function kvm_hyp_handle_dabt_low references kernel symbol _printk",
        key: `hyp/undefined-symbol|_printk|kvm_hyp_handle_dabt_low|${SWITCH_H}`,
        introducedBy: 2,
        fixedBy: null,
      },
    ],
    configs: ["defconfig"],
    buildProblems: [],
    timings: { totalMs: 1, applyMs: 0, buildMs: 0, analyzeMs: 0 },
  };
  return {
    checkKey: "5f1e0c2a9b7d3e4f6a8b0c1d",
    revision: "a1b2c3d4e5f60718293a4b5c",
    list: "kvmarm",
    seriesId: "cover.1795632516.git.ada@example.org",
    subject: "KVM: arm64: Say more about GICv2 CPU interface traps and VHE panics",
    version: 1,
    partial: false,
    kind: "findings",
    reason: null,
    result,
    analyzer: "test",
    recordedAt: NOW - 3600_000,
    latencyMs: 60_000,
    ...overrides,
  };
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  textNodeName: "#text",
  isArray: (name) => name === "entry" || name === "link",
});

interface ParsedLink {
  "@_rel": string;
  "@_href": string;
  "@_title"?: string;
}
interface ParsedEntry {
  id: string;
  title: { "#text": string; "@_type": string };
  updated: string;
  link: ParsedLink[];
  category: { "@_term": string };
  summary: { "#text": string };
}
interface ParsedFeed {
  feed: {
    "@_xmlns": string;
    id: string;
    title: string;
    updated: string;
    author: { name: string };
    link: ParsedLink[];
    entry?: ParsedEntry[];
  };
}

const parse = (xml: string) => parser.parse(xml) as ParsedFeed;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

describe("the Atom feed of verdicts", () => {
  it("is well-formed Atom 1.0: feed id, title, updated, author, self link; entries complete", () => {
    const clean = findingsVerdict({
      checkKey: "0a0b0c0d0e0f101112131415",
      seriesId: "cover.1795719000.git.ada@example.org",
      version: 2,
      kind: "clean",
      recordedAt: NOW - 60_000,
    });
    clean.result = { ...clean.result!, findings: [] };
    const xml = renderAtomFeed({
      entries: [
        { verdict: clean, issueUrl: null },
        { verdict: findingsVerdict(), issueUrl: "https://github.com/hypwatch/reports/issues/12" },
      ],
      loreUrl: LORE,
      now: NOW,
    });
    expect(XMLValidator.validate(xml)).toBe(true);
    expect(xml.startsWith('<?xml version="1.0" encoding="utf-8"?>')).toBe(true);
    const { feed } = parse(xml);
    expect(feed["@_xmlns"]).toBe("http://www.w3.org/2005/Atom");
    expect(feed.id).toBe(`${TAG_PREFIX}verdicts`);
    expect(feed.title).toBe("hypwatch verdicts");
    expect(feed.author.name).toBe("hypwatch");
    expect(feed.updated).toBe(new Date(NOW - 60_000).toISOString());
    expect(feed.link).toContainEqual(expect.objectContaining({ "@_rel": "self" }));
    expect(feed.entry).toHaveLength(2);
    for (const entry of feed.entry!) {
      expect(entry.id).toMatch(/^tag:hypwatch,2025:verdict\/[0-9a-f]+$/);
      expect(entry.updated).toMatch(RFC3339);
      expect(entry.title["#text"].length).toBeGreaterThan(0);
    }
    const [first, second] = feed.entry!;
    expect(first!.id).toBe("tag:hypwatch,2025:verdict/0a0b0c0d0e0f101112131415");
    expect(first!.title["#text"]).toBe(
      "[kvmarm] v2 KVM: arm64: Say more about GICv2 CPU interface traps and VHE panics: clean",
    );
    expect(first!.category["@_term"]).toBe("clean");
    expect(second!.summary["#text"]).toBe(
      [
        "findings: 1 error(s), 0 warning(s)",
        `error hyp/undefined-symbol _printk at ${SWITCH_H}:448 in kvm_hyp_handle_dabt_low() (patch 2)`,
      ].join("\n"),
    );
    expect(second!.link).toEqual([
      {
        "@_rel": "alternate",
        "@_type": "text/html",
        "@_href": "series/5f1e0c2a9b7d3e4f6a8b0c1d",
      },
      {
        "@_rel": "related",
        "@_type": "text/html",
        "@_title": "lore",
        "@_href": "https://lore.kernel.org/all/cover.1795632516.git.ada%40example.org/",
      },
      {
        "@_rel": "related",
        "@_title": "issue",
        "@_href": "https://github.com/hypwatch/reports/issues/12",
      },
    ]);
  });

  it("an entry's id is the same however often the feed is rendered, and ids differ by check", () => {
    const a = renderAtomFeed({
      entries: [{ verdict: findingsVerdict(), issueUrl: null }],
      loreUrl: LORE,
      now: NOW,
    });
    const b = renderAtomFeed({
      entries: [
        { verdict: findingsVerdict({ checkKey: "ffffffffffffffffffffffff" }), issueUrl: null },
        { verdict: findingsVerdict(), issueUrl: null },
      ],
      loreUrl: LORE,
      now: NOW + 86400_000,
    });
    const idsA = parse(a).feed.entry!.map((e) => e.id);
    const idsB = parse(b).feed.entry!.map((e) => e.id);
    expect(idsB[1]).toBe(idsA[0]);
    expect(new Set(idsB).size).toBe(2);
  });

  it("with no verdict: a valid feed, updated now, no entry", () => {
    const xml = renderAtomFeed({ entries: [], loreUrl: LORE, now: NOW });
    expect(XMLValidator.validate(xml)).toBe(true);
    const { feed } = parse(xml);
    expect(feed.updated).toBe(new Date(NOW).toISOString());
    expect(feed.entry).toBeUndefined();
  });

  it("hostile mail stays text: markup escaped, controls and bidi shown, no javascript: link", () => {
    const hostile = `<script>alert("x")</script> & ]]> \u202Egnp.exe\u202C \u001b[31m \u0000 \uFFFE`;
    const verdict = findingsVerdict({
      subject: hostile,
      seriesId: `"><script>@evil`,
      reason: hostile,
    });
    verdict.result!.findings[0]!.function = hostile;
    const xml = renderAtomFeed({
      entries: [{ verdict, issueUrl: "javascript:alert(1)" }],
      loreUrl: LORE,
      now: NOW,
    });
    expect(XMLValidator.validate(xml)).toBe(true);
    expect(xml).not.toContain("<script");
    expect(xml).not.toContain("javascript:");
    // Control characters in the feed are what this looks for.
    // eslint-disable-next-line no-control-regex
    expect(xml).not.toMatch(/[\u0000\u001b\u202a-\u202e\uFFFE]/);
    const [entry] = parse(xml).feed.entry!;
    expect(entry!.title["#text"]).toContain(
      `<script>alert("x")</script> & ]]> U+202Egnp.exeU+202C U+001B[31m U+0000 U+FFFE`,
    );
    expect(entry!.link.map((l) => l["@_href"])).toEqual([
      "series/5f1e0c2a9b7d3e4f6a8b0c1d",
      "https://lore.kernel.org/all/%22%3E%3Cscript%3E%40evil/",
    ]);
  });
});
