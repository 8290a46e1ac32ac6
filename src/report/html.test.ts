import { describe, expect, it } from "vitest";
import { gicv2Mails, threadPosts } from "../../test/report-context.js";
import { oneShotSeries } from "../../test/series-helpers.js";
import type { AttributedFinding } from "../check/index.js";
import type { CheckResult } from "../shapes/check.js";
import type { ReportContext } from "../shapes/report.js";
import type { Verdict } from "../shapes/verdict.js";
import {
  DASHBOARD_CSP,
  age,
  duration,
  escapeAttr,
  escapeHtml,
  httpUrl,
  loreMessageUrl,
  quoteFinding,
  renderIndexPage,
  renderSeriesPage,
} from "./html.js";

const SWITCH_H = "arch/arm64/kvm/hyp/include/hyp/switch.h";
const LORE = "https://lore.kernel.org/all";
const NOW = Date.parse("2026-11-26T10:00:00Z");

/** What `hypwatch check` found in the example's patch 2 (docs/json.md), as it found it. */
function exampleFindings(): AttributedFinding[] {
  const symbol = (name: string): AttributedFinding => ({
    rule: "hyp/undefined-symbol",
    severity: "error",
    kind: "symbol",
    symbol: name,
    file: SWITCH_H,
    line: 448,
    function: "kvm_hyp_handle_dabt_low",
    inlineChain: [{ function: "kvm_hyp_handle_dabt_low", file: SWITCH_H, line: 448 }],
    config: "defconfig",
    message: `nVHE function kvm_hyp_handle_dabt_low references kernel symbol ${name} at ${SWITCH_H}:448; nothing aliases __kvm_nvhe_${name}, so it cannot link (and must not run at EL2)`,
    object: "arch/arm64/kvm/hyp/nvhe/switch.nvhe.o",
    section: ".text",
    key: `hyp/undefined-symbol|${name}|kvm_hyp_handle_dabt_low|${SWITCH_H}`,
    introducedBy: 2,
    fixedBy: null,
  });
  return [
    symbol("___ratelimit"),
    symbol("_printk"),
    {
      rule: "hyp/unmapped-section",
      severity: "error",
      kind: "section",
      symbol: ".data",
      file: null,
      line: null,
      function: null,
      inlineChain: [],
      config: "defconfig",
      message:
        "arch/arm64/kvm/hyp/nvhe/switch.nvhe.o has a .data section the nVHE linker script does not map",
      object: "arch/arm64/kvm/hyp/nvhe/switch.nvhe.o",
      section: ".data",
      key: "hyp/unmapped-section|.data||",
      introducedBy: 2,
      fixedBy: null,
    },
  ];
}

/** The example series, its posts as a reporter loads them, and a `findings` verdict of it. */
async function exampleContext(
  overrides: Partial<Verdict> = {},
  findings = exampleFindings(),
): Promise<ReportContext> {
  const mails = await gicv2Mails();
  const [series] = (await oneShotSeries(mails)).relevant;
  if (!series) throw new Error("the example has no relevant series");
  const posts = await threadPosts(mails);
  const result: CheckResult = {
    tree: {
      path: "/work/trees/linux-source-6.1",
      era: "modern",
      baseCommit: "a54fbb4e9f24fdb5bb3dda097180850800a575cb",
      baseChosenBy: "head",
      attempts: [],
      baseReused: [],
    },
    series: { subject: series.subject, version: series.version },
    patches: series.patches.map((p) => ({
      index: p.index,
      id: p.messageId,
      subject: p.subject,
      applied: true,
      failure: null,
      changesHypBuild: p.index !== 3,
    })),
    findings,
    configs: ["defconfig", "instrumented"],
    buildProblems: [],
    timings: { totalMs: 628404, applyMs: 123698, buildMs: 423091, analyzeMs: 81615 },
  };
  const verdict: Verdict = {
    checkKey: "5f1e0c2a9b7d3e4f6a8b0c1d",
    revision: "a1b2c3d4e5f60718293a4b5c",
    list: "kvmarm",
    seriesId: series.id,
    subject: series.subject,
    version: series.version,
    partial: false,
    kind: findings.length > 0 ? "findings" : "clean",
    reason: null,
    result,
    analyzer: "hypwatch-0.1.0+test",
    recordedAt: NOW - 3 * 3600_000,
    latencyMs: 11 * 60_000,
    ...overrides,
  };
  return {
    current: { list: "kvmarm", revision: verdict.revision, series, verdict },
    previous: null,
    posts,
  };
}

/** Markup the pages write themselves; mail must never add to it. */
const OUR_TAGS = new Set(
  "!doctype html head meta title link style body header a span nav h1 h2 p table thead tbody tr th td time dl dt dd div code ol li ul pre i".split(
    " ",
  ),
);

function tagsOf(html: string): Set<string> {
  return new Set(
    [...html.matchAll(/<\/?([a-zA-Z!][a-zA-Z0-9]*)/g)].map((m) => m[1]!.toLowerCase()),
  );
}

function hrefsOf(html: string): string[] {
  return [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!);
}

/** Every attribute the pages write, by name: no event handlers, no inline styles from mail. */
function attributeNames(html: string): Set<string> {
  const names = new Set<string>();
  for (const tag of html.matchAll(/<[a-zA-Z][^>]*>/g))
    for (const attr of tag[0].matchAll(/\s([a-zA-Z-]+)="[^"]*"/g))
      names.add(attr[1]!.toLowerCase());
  return names;
}

const HOSTILE = `<script>alert("x")</script><img src=x onerror=alert(1)> "quoted" 'single' & \u202Egnp.exe\u202C \u2066iso\u2069 \u001b[31mred`;

describe("escaping text from mail", () => {
  it("writes markup characters as entities", () => {
    expect(escapeHtml(`<b a="1" b='2'>&amp;</b>`)).toBe(
      "&lt;b a=&quot;1&quot; b=&#39;2&#39;&gt;&amp;amp;&lt;/b&gt;",
    );
  });

  it("shows bidi overrides, isolates, invisible and control characters as visible marks", () => {
    const out = escapeHtml("a\u202Eb\u2066c\u200Bd\u001be\u0000f\u2028g");
    expect(out).toBe(
      [
        "a",
        '<span class="esc">U+202E</span>b',
        '<span class="esc">U+2066</span>c',
        '<span class="esc">U+200B</span>d',
        '<span class="esc">U+001B</span>e',
        '<span class="esc">U+0000</span>f',
        '<span class="esc">U+2028</span>g',
      ].join(""),
    );
    expect(escapeHtml("tab\tand\nnewline stay")).toBe("tab\tand\nnewline stay");
    expect(escapeHtml("Łukasz Müller 测试 😀")).toBe("Łukasz Müller 测试 😀");
  });

  it("attribute values: the same entities, unsafe characters as plain text", () => {
    expect(escapeAttr(`x" onmouseover="a\u202E`)).toBe("x&quot; onmouseover=&quot;aU+202E");
  });

  it("lore links percent-encode the whole Message-ID", () => {
    expect(loreMessageUrl(`${LORE}/`, "a/../b?c#d%e@f")).toBe(
      "https://lore.kernel.org/all/a%2F..%2Fb%3Fc%23d%25e%40f/",
    );
    expect(loreMessageUrl(LORE, `"><script>@x`)).toBe(
      "https://lore.kernel.org/all/%22%3E%3Cscript%3E%40x/",
    );
  });

  it("only http(s) URLs are links: javascript:, data:, relative and garbage are refused", () => {
    expect(httpUrl("https://github.com/o/r/issues/7")).toBe("https://github.com/o/r/issues/7");
    expect(httpUrl(" http://example.org/a b")).toBe("http://example.org/a%20b");
    for (const bad of [
      "javascript:alert(1)",
      " JavaScript:alert(1)",
      "java\tscript:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "vbscript:x",
      "//evil.example/x",
      "/issues/7",
      "not a url",
      "",
      null,
    ])
      expect(httpUrl(bad)).toBeNull();
  });

  it("durations read as a person would say them", () => {
    expect(duration(42_000)).toBe("42 s");
    expect(duration(11 * 60_000)).toBe("11 min");
    expect(duration(150 * 60_000)).toBe("2.5 h");
  });

  it("ages read as a person would say them", () => {
    expect(age(NOW - 5_000, NOW)).toBe("5 s ago");
    expect(age(NOW - 5 * 60_000, NOW)).toBe("5 min ago");
    expect(age(NOW - 3 * 3600_000, NOW)).toBe("3 h ago");
    expect(age(NOW - 9 * 86400_000, NOW)).toBe("9 d ago");
    expect(age(NOW + 60_000, NOW)).toBe("0 s ago");
  });
});

describe("the finding's quoted hunk", () => {
  it("quotes patch 2's hunk around the pr_warn_ratelimited() that calls _printk", async () => {
    const context = await exampleContext();
    const printk = context.current.verdict.result!.findings[1]!;
    const quote = quoteFinding(printk, context.current.series, context.posts);
    expect(quote).toMatchObject({
      messageId: "d677890876d2a5543a6ad4c5c2e60382780a32b6.1795632516.git.ada@example.org",
      patchIndex: 2,
      path: SWITCH_H,
      header:
        "@@ -444,8 +444,11 @@ static inline bool kvm_hyp_handle_dabt_low(struct kvm_vcpu *vcpu, u64 *exit_code",
    });
    const target = quote!.lines.filter((l) => l.target);
    expect(target).toHaveLength(1);
    expect(target[0]).toMatchObject({ newLine: 448 });
    expect(target[0]!.text).toMatch(/^\+\s+pr_warn_ratelimited\("KVM: illegal GICv2/);
    // The removed line has no new line number; context around the target is kept.
    expect(quote!.lines.find((l) => l.text.startsWith("-"))?.newLine).toBeNull();
    expect(quote!.lines.map((l) => l.newLine).filter((n) => n !== null)).toEqual([
      445, 446, 447, 448, 449, 450, 451, 452,
    ]);
    expect(quote).toMatchObject({ before: 1, after: 2 });
    expect(quote!.before + quote!.lines.length + quote!.after).toBe(12);
  });

  it("falls back to the inline chain when the finding's own file is not in the patch", async () => {
    const context = await exampleContext();
    const base = context.current.verdict.result!.findings[1]!;
    const inlined: AttributedFinding = {
      ...base,
      file: "include/linux/printk.h",
      line: 528,
      inlineChain: [
        { function: "printk_ratelimited", file: "include/linux/printk.h", line: 528 },
        { function: "kvm_hyp_handle_dabt_low", file: SWITCH_H, line: 448 },
      ],
    };
    expect(
      quoteFinding(inlined, context.current.series, context.posts)?.lines.find((l) => l.target),
    ).toMatchObject({ newLine: 448 });
  });

  it("none for a finding without a place, a line outside the patch, or a patch not kept", async () => {
    const context = await exampleContext();
    const [, printk, data] = context.current.verdict.result!.findings;
    const { series, posts } = { series: context.current.series, posts: context.posts };
    expect(quoteFinding(data!, series, posts)).toBeNull();
    const elsewhere = { ...printk!, line: 10, inlineChain: [] };
    expect(quoteFinding(elsewhere, series, posts)).toBeNull();
    expect(quoteFinding(printk!, series, new Map())).toBeNull();
    expect(quoteFinding({ ...printk!, introducedBy: 7 }, series, posts)).toBeNull();
  });
});

describe("the index page", () => {
  it("lists verdicts with list, linked subject, version, kind, counts, age, lore and issue", async () => {
    const { current } = await exampleContext();
    const html = renderIndexPage({
      rows: [
        { verdict: current.verdict, issueUrl: "https://github.com/hypwatch/reports/issues/12" },
      ],
      total: 1,
      loreUrl: LORE,
      now: NOW,
    });
    expect(html).toContain(
      `<a href="series/5f1e0c2a9b7d3e4f6a8b0c1d">KVM: arm64: Say more about GICv2 CPU interface traps and VHE panics</a>`,
    );
    expect(html).toContain(">v1<");
    expect(html).toContain(`<span class="kind kind-findings">findings</span>`);
    // One pr_warn_ratelimited() line, three findings: one error.
    expect(html).toContain("1 error<");
    expect(html).toContain(">3 h ago</time>");
    expect(hrefsOf(html)).toContain(
      "https://lore.kernel.org/all/cover.1795632516.git.ada%40example.org/",
    );
    expect(hrefsOf(html)).toContain("https://github.com/hypwatch/reports/issues/12");
    expect(html).toContain('href="./verdicts.atom"');
  });

  it("says so when there is no verdict yet", () => {
    const html = renderIndexPage({ rows: [], total: 0, loreUrl: LORE, now: NOW });
    expect(html).toContain("No verdict yet.");
  });

  it("mail cannot add markup, attributes or links: hostile subject, list, ids, issue", async () => {
    const { current } = await exampleContext();
    const verdict: Verdict = {
      ...current.verdict,
      subject: HOSTILE,
      list: `kvm"arm<`,
      seriesId: `"><script>alert(1)</script>@evil`,
      checkKey: `"><x>`,
      reason: HOSTILE,
    };
    const html = renderIndexPage({
      rows: [
        { verdict, issueUrl: "javascript:alert(document.domain)" },
        { verdict, issueUrl: `https://example.org/"><script>` },
      ],
      total: 2,
      loreUrl: LORE,
      now: NOW,
    });
    expect([...tagsOf(html)].filter((t) => !OUR_TAGS.has(t))).toEqual([]);
    expect([...attributeNames(html)].sort()).toEqual(
      [
        "charset",
        "class",
        "content",
        "datetime",
        "href",
        "lang",
        "name",
        "rel",
        "title",
        "type",
      ].sort(),
    );
    expect(html).not.toContain("<script");
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(html).toContain('<span class="esc">U+202E</span>gnp.exe');
    expect(html).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    expect(html).not.toContain("\u001b");
    expect(html).not.toContain("javascript:");
    for (const href of hrefsOf(html))
      expect(href).toMatch(
        /^(https:\/\/lore\.kernel\.org\/all\/[^"<>\s]*\/|https:\/\/example\.org\/|series\/|\.\/|api\/|verdicts\.atom)/,
      );
    expect(hrefsOf(html)).toContain("series/%22%3E%3Cx%3E");
    expect(hrefsOf(html)).toContain("https://example.org/%22%3E%3Cscript%3E");
    expect(hrefsOf(html)).toContain(
      "https://lore.kernel.org/all/%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E%40evil/",
    );
  });
});

describe("the series page", () => {
  it("shows each finding with file:line, function, inline chain and the quoted hunk", async () => {
    const context = await exampleContext();
    const html = renderSeriesPage({
      context,
      revisions: [
        {
          version: 2,
          checkKey: "0a0b0c0d0e0f101112131415",
          kind: "clean",
          partial: false,
          recordedAt: NOW - 600_000,
        },
        {
          version: 1,
          checkKey: "5f1e0c2a9b7d3e4f6a8b0c1d",
          kind: "findings",
          partial: false,
          recordedAt: NOW - 3 * 3600_000,
        },
      ],
      issueUrl: null,
      loreUrl: LORE,
      now: NOW,
    });
    expect(html).toContain(
      "<h1>KVM: arm64: Say more about GICv2 CPU interface traps and VHE panics",
    );
    expect(html).toContain("1 error, 0 warnings");
    // Its one cause above its three findings, with the ratelimit state it adds.
    expect(html).toContain(
      `<code>${SWITCH_H}:448 in kvm_hyp_handle_dabt_low()</code> <span class="muted">(patch 2, 3 findings)</span>`,
    );
    expect(html).toMatch(/<div>section: \.data[^<]* in switch\.nvhe\.o, not mapped at EL2<\/div>/);
    expect(html).toContain(
      `<div class="where">${SWITCH_H}:448 in <code>kvm_hyp_handle_dabt_low()</code></div>`,
    );
    expect(html).toContain("<code>_printk</code>");
    // The quoted line, highlighted, with its line number in the patched file.
    expect(html).toMatch(
      /<span class="hit"><i>448<\/i>\+\t+pr_warn_ratelimited\(&quot;KVM: illegal GICv2 CPU interface access at %llx\\n&quot;,<\/span>/,
    );
    expect(html).toContain('<span class="del"><i></i>-\t\t\tif (ret == -1)</span>');
    expect(html).toContain(
      `quoted from <a href="https://lore.kernel.org/all/d677890876d2a5543a6ad4c5c2e60382780a32b6.1795632516.git.ada%40example.org/" rel="noopener noreferrer">patch 2</a>`,
    );
    // .data has no place in the source: no quote, its object named instead.
    expect(html).toContain(`<div class="where">arch/arm64/kvm/hyp/nvhe/switch.nvhe.o</div>`);
    // Both symbols are at the same line: it is quoted once.
    expect(html.match(/<pre class="hunk">/g)).toHaveLength(1);
    expect(html.match(/at the place quoted above/g)).toHaveLength(1);
    expect(html).toContain('<span class="hdr"><i></i>… 1 line above</span>');
    expect(html).toContain("<dt>posted</dt><dd>2026-11-25 18:48 UTC</dd>");
    expect(html).toContain("<dt>latency</dt><dd>11 min after the series' last mail</dd>");
    // Patches, each linked to lore, with what the check did with them.
    expect(html).toContain("applied; no hyp build input changed");
    expect(html).toContain("[PATCH 3/3] KVM: arm64: Name the CPU in VHE hypervisor panics</a>");
    // The other revision is linked from this one; this one is not linked to itself.
    expect(hrefsOf(html)).toContain("0a0b0c0d0e0f101112131415");
    expect(hrefsOf(html)).not.toContain("5f1e0c2a9b7d3e4f6a8b0c1d");
    expect(html).toContain("no issue");
  });

  it("an inline chain of more than one frame is listed innermost first", async () => {
    const context = await exampleContext();
    const [, printk] = context.current.verdict.result!.findings;
    const chained: AttributedFinding = {
      ...printk!,
      inlineChain: [
        { function: "kvm_hyp_handle_dabt_low", file: SWITCH_H, line: 448 },
        { function: "fixup_guest_exit", file: SWITCH_H, line: 512 },
        { function: "__kvm_vcpu_run", file: "arch/arm64/kvm/hyp/nvhe/switch.c", line: 329 },
      ],
    };
    const html = renderSeriesPage({
      context: await exampleContext({}, [chained]),
      revisions: [],
      issueUrl: "https://github.com/hypwatch/reports/issues/12",
      loreUrl: LORE,
      now: NOW,
    });
    expect(html).toContain(
      `<ol class="chain">\n<li>kvm_hyp_handle_dabt_low() <span class="muted">${SWITCH_H}:448</span></li>`,
    );
    expect(html.indexOf("fixup_guest_exit()")).toBeLessThan(html.indexOf("__kvm_vcpu_run()"));
    expect(hrefsOf(html)).toContain("https://github.com/hypwatch/reports/issues/12");
  });

  it("mail cannot add markup to the page: hostile subject, author, paths, functions, hunks", async () => {
    const context = await exampleContext();
    const { series, verdict } = context.current;
    const [, printk] = verdict.result!.findings;
    const hostileFinding: AttributedFinding = {
      ...printk!,
      symbol: HOSTILE,
      function: HOSTILE,
      message: HOSTILE,
      config: HOSTILE,
      flags: [HOSTILE],
      inlineChain: [
        { function: HOSTILE, file: HOSTILE, line: 1 },
        { function: "kvm_hyp_handle_dabt_low", file: SWITCH_H, line: 448 },
      ],
    };
    const post = context.posts.get(series.patches[1]!.messageId)!;
    const hunk = post.files[0]!.hunks[0]!;
    hunk.lines = hunk.lines.map((l) => (l.includes("pr_warn") ? `+${HOSTILE}` : l));
    context.current = {
      ...context.current,
      series: {
        ...series,
        author: { name: HOSTILE, email: `"><script>@x` },
        patches: series.patches.map((p) => ({ ...p, subject: HOSTILE })),
      },
      verdict: {
        ...verdict,
        subject: HOSTILE,
        reason: HOSTILE,
        analyzer: HOSTILE,
        result: {
          ...verdict.result!,
          findings: [hostileFinding],
          buildProblems: [
            {
              config: "defconfig",
              step: 2,
              timedOut: false,
              bound: null,
              failedTargets: [HOSTILE],
              logPath: "/srv/hypwatch/builds/secret.log",
            },
          ],
        },
      },
    };
    const html = renderSeriesPage({
      context,
      revisions: [
        { version: 2, checkKey: `"><script>`, kind: "clean", partial: true, recordedAt: NOW },
      ],
      issueUrl: "javascript:alert(1)",
      loreUrl: LORE,
      now: NOW,
    });
    expect([...tagsOf(html)].filter((t) => !OUR_TAGS.has(t))).toEqual([]);
    expect(attributeNames(html)).not.toContain("onerror");
    expect(html).not.toContain("<script");
    expect(html).not.toContain("<img");
    expect(html).not.toContain("javascript:");
    expect(html).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    expect(html).not.toContain("\u001b");
    // The quoted hunk still quotes the hostile line, escaped.
    expect(html).toMatch(/<span class="hit"><i>448<\/i>\+&lt;script&gt;/);
    // A build's log path is the host's, not the reader's.
    expect(html).not.toContain("/srv/hypwatch");
    expect(hrefsOf(html)).toContain("%22%3E%3Cscript%3E");
  });
});

describe("the pages' Content-Security-Policy", () => {
  it("allows nothing but the page's own inline stylesheet, by hash", async () => {
    expect(DASHBOARD_CSP).toMatch(
      /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'$/,
    );
    const html = renderIndexPage({ rows: [], total: 0, loreUrl: LORE, now: NOW });
    const css = /<style>([\s\S]*)<\/style>/.exec(html)![1]!;
    const { createHash } = await import("node:crypto");
    expect(DASHBOARD_CSP).toContain(
      `'sha256-${createHash("sha256").update(css).digest("base64")}'`,
    );
    expect(html).not.toMatch(/<script|style="/);
  });
});
