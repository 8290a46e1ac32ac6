import { beforeAll, describe, expect, it } from "vitest";
import {
  contextOf,
  earlierVersion,
  finding,
  threadSeries,
  verdictOf,
} from "../../test/digest-fixtures.js";
import { gicv2Context } from "../../test/report-context.js";
import type { Series } from "../series/types.js";
import { digestModel, escapeHtml, patchRanges, renderDigest, wrap } from "./digest.js";

const LORE = "https://lore.kernel.org/all";
const START = Date.parse("2024-05-01T06:00:00Z");
const END = Date.parse("2024-05-02T06:00:00Z");
const period = { start: new Date(START), end: new Date(END) };
const at = (hours: number) => START + hours * 3600_000;

let scs: Series;
let wxn: Series;
let pmu: Series;
let tidy: Series;

beforeAll(async () => {
  scs = await threadSeries("scs-v7");
  wxn = await threadSeries("el2-nvhe-wxn-v1");
  pmu = await threadSeries("pmu-emulation-fixes-v2");
  tidy = await threadSeries("tidy-kconfig-makefiles-v4");
});

describe("digestModel", () => {
  it("tells new, fixed and still failing findings apart by their key against the previous version", () => {
    const { older, newer } = earlierVersion(scs, 6);
    const kept = finding({ symbol: "scs_alloc" });
    const gone = finding({ symbol: "printk", line: 250 });
    const added = finding({ symbol: "kfree", introducedBy: 9 });
    const previous = verdictOf(older, { kind: "findings", findings: [kept, gone], recordedAt: 1 });
    const current = verdictOf(newer, {
      kind: "findings",
      findings: [{ ...kept, line: 300 }, added],
      recordedAt: at(2),
    });
    const model = digestModel({
      name: "kvmarm",
      lists: ["kvmarm"],
      period,
      contexts: [contextOf(newer, current, { series: older, verdict: previous })],
      loreUrl: LORE,
    });
    const [s] = model.series;
    expect(s?.previousVersion).toBe(6);
    const symbols = (groups: { cause: { symbols: string[] } }[] = []) =>
      groups.flatMap((g) => g.cause.symbols);
    expect(symbols(s?.newCauses)).toEqual(["kfree"]);
    expect(symbols(s?.fixedCauses)).toEqual(["printk"]);
    expect(symbols(s?.stillFailing)).toEqual(["scs_alloc"]);
  });

  it("counts each series once, by its newest version checked in the period", () => {
    const { older, newer } = earlierVersion(pmu, 1);
    const v1 = verdictOf(older, { kind: "findings", findings: [finding()], recordedAt: at(1) });
    const v2 = verdictOf(newer, { kind: "clean", recordedAt: at(5) });
    const model = digestModel({
      name: "kvmarm",
      lists: [],
      period,
      contexts: [
        contextOf(older, v1),
        contextOf(newer, v2, { series: older, verdict: v1 }),
        contextOf(wxn, verdictOf(wxn, { kind: "superseded", recordedAt: at(3) })),
      ],
      loreUrl: LORE,
    });
    expect(model.series.map((s) => [s.version, s.kind])).toEqual([[2, "clean"]]);
    expect(model.counts).toEqual({ clean: 1 });
    expect(model.series[0]?.fixedCauses).toHaveLength(1);
  });

  it("does not call findings fixed when the new version could not be checked", () => {
    const { older, newer } = earlierVersion(tidy, 3);
    const v3 = verdictOf(older, { kind: "findings", findings: [finding()], recordedAt: 1 });
    const v4 = verdictOf(newer, { kind: "does-not-apply", recordedAt: at(1) });
    const [s] = digestModel({
      name: "d",
      lists: [],
      period,
      contexts: [contextOf(newer, v4, { series: older, verdict: v3 })],
      loreUrl: LORE,
    }).series;
    expect(s?.fixedCauses).toEqual([]);
  });

  it("collects the review trailers of a real thread per reviewer, with the patches they cover", () => {
    const [s] = digestModel({
      name: "d",
      lists: [],
      period,
      contexts: [contextOf(tidy, verdictOf(tidy, { kind: "clean", recordedAt: at(1) }))],
      loreUrl: LORE,
    }).series;
    expect(s?.trailers.length).toBeGreaterThan(0);
    for (const t of s?.trailers ?? [])
      expect(["Reviewed-by", "Acked-by", "Tested-by"]).toContain(t.name);
    expect(s?.lore).toBe(`${LORE}/${encodeURIComponent(tidy.id)}/`);
  });
});

describe("renderDigest", () => {
  it("lists a cause once, with its findings counted and what it affects (GICv2, real output)", async () => {
    const digest = renderDigest({
      name: "kvmarm",
      lists: ["kvmarm"],
      period,
      contexts: [await gicv2Context()],
      loreUrl: LORE,
    });
    expect(digest.text).toContain(
      "    error hyp/undefined-symbol, hyp/unmapped-section (patch 2),\n" +
        "      3 findings\n" +
        "      arch/arm64/kvm/hyp/include/hyp/switch.h:448 in\n" +
        "        kvm_hyp_handle_dabt_low()\n" +
        "      symbols: ___ratelimit, _printk\n" +
        "      section: .data (_rs.1) in switch.nvhe.o, not mapped at EL2\n",
    );
  });

  it("writes every section in plain text of at most 72 columns and links each series to lore", () => {
    const { older, newer } = earlierVersion(scs, 6);
    const v6 = verdictOf(older, {
      kind: "findings",
      findings: [finding({ symbol: "printk", line: 250 }), finding({ symbol: "scs_alloc" })],
      recordedAt: 1,
    });
    const contexts = [
      contextOf(
        newer,
        verdictOf(newer, {
          kind: "findings",
          findings: [finding({ symbol: "scs_alloc" }), finding({ symbol: "kfree", line: 260 })],
          recordedAt: at(1),
        }),
        { series: older, verdict: v6 },
      ),
      contextOf(
        wxn,
        verdictOf(wxn, {
          kind: "no-base",
          recordedAt: at(2),
          attempts: [
            { ref: "f00dfeedf00dfeed", source: "base-commit", commit: null, outcome: "missing" },
          ],
        }),
      ),
      contextOf(pmu, verdictOf(pmu, { kind: "timed-out", reason: "time", recordedAt: at(3) })),
      contextOf(tidy, verdictOf(tidy, { kind: "clean", recordedAt: at(4) })),
    ];
    const digest = renderDigest({
      name: "kvmarm",
      lists: ["kvmarm"],
      period,
      contexts,
      loreUrl: LORE,
    });
    expect(digest.subject).toBe(
      "[hypwatch] kvmarm digest 2024-05-02: 4 series checked, 1 with new findings, 1 with fixes",
    );
    for (const title of [
      "Series checked",
      "New findings",
      "Fixed findings",
      "Still failing",
      "Waiting for a base, or not applying",
      "Checks that did not finish",
      "Review trailers collected",
    ])
      expect(digest.text).toContain(`\n${title}\n${"-".repeat(title.length)}\n`);
    expect(digest.text.replace(/\s+/g, " ")).toContain(
      "4 series checked: 1 with findings, 1 clean, 1 wait for a base, 1 timed out.",
    );
    expect(digest.text).toContain("\n-- \n");
    expect(digest.text).toContain("f00dfeedf00dfeed: not in the tree");
    for (const line of digest.text.split("\n")) {
      // Only a link may run over: it cannot be cut.
      if (line.length > 72) expect(line).toMatch(/^ *<https?:\/\/\S+>$/);
    }
    for (const s of [scs, wxn, pmu, tidy])
      expect(digest.text).toContain(`<${LORE}/${encodeURIComponent(s.id)}/>`);
    expect(digest.html).toContain(`href="${LORE}/${encodeURIComponent(tidy.id)}/"`);
  });

  it("escapes a hostile subject and author in HTML and shows its control characters in text", () => {
    const hostile: Series = {
      ...wxn,
      subject: 'KVM: <script>alert("x")</script> \u202egnp.exe\u001b[2J',
      author: { name: "<img src=x onerror=alert(1)>", email: "evil@example.com" },
    };
    const digest = renderDigest({
      name: "kvmarm",
      lists: [],
      period,
      contexts: [contextOf(hostile, verdictOf(hostile, { kind: "clean", recordedAt: at(1) }))],
      loreUrl: LORE,
      issues: new Map([["x", "javascript:alert(1)"]]),
    });
    expect(digest.html).not.toContain("<script>");
    expect(digest.html).not.toContain("<img");
    expect(digest.html).not.toContain("\u202e");
    expect(digest.html).not.toContain("\u001b");
    expect(digest.html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(digest.text).toContain("\\u202egnp.exe\\e[2J");
    expect(digest.text).not.toContain("\u202e");
  });

  it("links an issue only when its URL is http(s)", () => {
    const v = verdictOf(tidy, { kind: "findings", findings: [finding()], recordedAt: at(1) });
    const render = (url: string) =>
      renderDigest({
        name: "d",
        lists: [],
        period,
        contexts: [contextOf(tidy, v)],
        loreUrl: LORE,
        issues: new Map([[v.checkKey, url]]),
      });
    expect(render("https://github.com/o/r/issues/7").text).toContain(
      "issue: <https://github.com/o/r/issues/7>",
    );
    expect(render("javascript:alert(1)").html).not.toContain("javascript:");
  });

  it("says so when nothing was checked", () => {
    const digest = renderDigest({ name: "d", lists: [], period, contexts: [], loreUrl: LORE });
    expect(digest.text).toContain("No series was checked in this period.");
  });
});

describe("text helpers", () => {
  it("wraps with a hanging indent and keeps a long link whole", () => {
    expect(wrap("aaa bbb ccc", "* ", "  ", 8)).toEqual(["* aaa", "  bbb", "  ccc"]);
    const url = `https://lore.kernel.org/all/${"x".repeat(80)}/`;
    expect(wrap(`see ${url}`, "")).toEqual(["see", url]);
  });

  it("writes patch numbers as ranges", () => {
    expect(patchRanges([1, 2, 3, 5, 7, 8])).toBe("1-3, 5, 7-8");
  });

  it("escapes markup and quotes for HTML", () => {
    expect(escapeHtml(`<a href='x'>&"</a>`)).toBe(
      "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;",
    );
  });
});
