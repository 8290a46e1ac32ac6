import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusPath } from "../test/corpus.js";
import { captureLog } from "../test/log-capture.js";
import { freshStore, type TestStore } from "../test/state.js";
import type { AttributedFinding } from "../src/check/index.js";
import { readSource } from "../src/intake/index.js";
import { DEFAULT_MAIL_LIMITS } from "../src/mail/limits.js";
import { ingestMail } from "../src/pipeline/ingest.js";
import {
  updateRevisions,
  type CheckJobData,
  type RevisionPolicy,
} from "../src/pipeline/revisions.js";
import { DEFAULT_RELEVANT_PATTERNS } from "../src/series/relevance.js";
import type { Verdict, VerdictKind } from "../src/shapes/verdict.js";
import type { StateStore } from "../src/state/store.js";
import { API_MAX_LIMIT, dashboardRoutes, issueLedgerKey } from "./dashboard.js";
import { createMetrics } from "./metrics.js";
import { startWebServer, type WebServer } from "./web.js";

const EXAMPLE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../examples/gicv2-warn-v1.mbox",
);
const SCS_V7 = corpusPath("threads", "scs-v7", "scs-v7-thread.mbox");
const SWITCH_H = "arch/arm64/kvm/hyp/include/hyp/switch.h";
const LORE = "https://lore.kernel.org/all";
const T0 = Date.parse("2026-11-25T19:00:00Z");
const NOW = T0 + 4 * 3600_000;
const ISSUE = "https://github.com/hypwatch/reports/issues/12";
const HOSTILE_SUBJECT = `KVM: arm64: <script>alert("x")</script> "quoted" \u202Egnp.exe\u202C & more`;
const HOSTILE_ID = `cover.a/../?#%2e&x'@evil.example`;

const policy: RevisionPolicy = {
  list: "kvmarm",
  relevantPaths: DEFAULT_RELEVANT_PATTERNS,
  limits: DEFAULT_MAIL_LIMITS,
  windowMessages: 5000,
  marginMessages: 1000,
  partialWaitMs: 3_600_000,
  check: { candidates: [], configs: ["defconfig", "instrumented"], analyzer: "test" },
};

/** `hypwatch check`'s findings for the example's patch 2 (docs/json.md). */
function printkFindings(fn = "kvm_hyp_handle_dabt_low"): AttributedFinding[] {
  return ["___ratelimit", "_printk"].map((symbol) => ({
    rule: "hyp/undefined-symbol",
    severity: "error",
    kind: "symbol",
    symbol,
    file: SWITCH_H,
    line: 448,
    function: fn,
    inlineChain: [{ function: fn, file: SWITCH_H, line: 448 }],
    config: "defconfig",
    message: `nVHE function ${fn} references kernel symbol ${symbol} at ${SWITCH_H}:448; nothing aliases __kvm_nvhe_${symbol}, so it cannot link (and must not run at EL2)`,
    object: "arch/arm64/kvm/hyp/nvhe/switch.nvhe.o",
    section: ".text",
    key: `hyp/undefined-symbol|${symbol}|${fn}|${SWITCH_H}`,
    introducedBy: 2,
    fixedBy: null,
  }));
}

interface Seeded {
  scs: string;
  v1: string;
  v2: string;
  hostile: string;
}

/**
 * The store as the service leaves it: real threads arrive (the SCS v7 thread, the example
 * series, its v2, and a copy with a hostile cover letter), revisions are assembled and
 * queued, and each newest revision gets a verdict before the next thread arrives.
 */
async function seed(store: StateStore, dir: string): Promise<Seeded> {
  const example = await readFile(EXAMPLE, "utf8");
  const v2 = example
    .replaceAll("1795632516", "1795719000")
    .replaceAll("[PATCH ", "[PATCH v2 ")
    .replaceAll("25 Nov 2026", "26 Nov 2026");
  const hostile = example
    .replaceAll("cover.1795632516.git.ada@example.org", HOSTILE_ID)
    .replaceAll("1795632516", "1795800000")
    .replaceAll(
      "KVM: arm64: Say more about GICv2 CPU interface traps and VHE panics",
      HOSTILE_SUBJECT,
    );
  await writeFile(path.join(dir, "v2.mbox"), v2);
  await writeFile(path.join(dir, "hostile.mbox"), hostile);

  const queued = new Map<string, CheckJobData>();
  const scheduler = {
    schedule: async (job: CheckJobData) => void queued.set(job.checkKey, job),
    cancel: async (key: string) => void queued.delete(key),
  };
  let clock = T0 - 3600_000;
  async function arrive(source: string): Promise<CheckJobData> {
    for await (const mail of readSource(source))
      await ingestMail({ store, clock: () => clock }, "kvmarm", mail);
    await updateRevisions({ store, scheduler }, policy);
    const newest = [...queued.values()].at(-1);
    if (!newest) throw new Error(`nothing queued after ${source}`);
    return newest;
  }
  async function verdict(
    job: CheckJobData,
    kind: VerdictKind,
    findings: AttributedFinding[],
  ): Promise<string> {
    clock += 3600_000;
    const revision = (await store.revision(job.revision))!;
    const { series } = revision;
    const v: Verdict = {
      checkKey: job.checkKey,
      revision: job.revision,
      list: "kvmarm",
      seriesId: series.id,
      subject: series.subject,
      version: series.version,
      partial: !series.complete,
      kind,
      reason: null,
      result: {
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
          changesHypBuild: true,
        })),
        findings,
        configs: ["defconfig", "instrumented"],
        buildProblems: [],
        timings: { totalMs: 628404, applyMs: 123698, buildMs: 423091, analyzeMs: 81615 },
      },
      analyzer: "test",
      recordedAt: clock,
      latencyMs: clock - revision.lastArrivedAt,
    };
    expect(await store.recordVerdict(v)).toBe(true);
    queued.delete(job.checkKey);
    return job.checkKey;
  }

  const scs = await verdict(await arrive(SCS_V7), "clean", []);
  const v1 = await verdict(await arrive(EXAMPLE), "findings", printkFindings());
  await store.recordSideEffect(
    issueLedgerKey("kvmarm", "cover.1795632516.git.ada@example.org"),
    ISSUE,
  );
  const second = await verdict(await arrive(path.join(dir, "v2.mbox")), "clean", []);
  const bad = await verdict(
    await arrive(path.join(dir, "hostile.mbox")),
    "findings",
    printkFindings(`<img src=x onerror=alert(1)>\u202E`),
  );
  await store.recordSideEffect(
    issueLedgerKey("kvmarm", HOSTILE_ID),
    "javascript:alert(document.cookie)",
  );
  return { scs, v1, v2: second, hostile: bad };
}

let t: TestStore;
let dir: string;
let server: WebServer;
let keys: Seeded;

beforeAll(async () => {
  t = await freshStore();
  dir = await mkdtemp(path.join(tmpdir(), "hypwatch-dashboard-"));
  keys = await seed(t.store, dir);
  server = await startWebServer({
    host: "127.0.0.1",
    port: 0,
    metrics: createMetrics(),
    health: async () => ({ ok: true, checks: {} }),
    log: captureLog().log,
    dashboard: dashboardRoutes({ store: t.store, loreUrl: LORE, clock: () => NOW }),
  });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await t?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const get = (route: string, init?: RequestInit) => fetch(`${server.url}${route}`, init);

describe("the dashboard on the service's web server (real Redis, real mail)", () => {
  it("GET /: every verdict newest first, linked to its page, lore and issue", async () => {
    const res = await get("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("content-security-policy")).toMatch(
      /^default-src 'none'; style-src 'sha256-/,
    );
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await res.text();
    const order = [keys.hostile, keys.v2, keys.v1, keys.scs].map((k) =>
      html.indexOf(`href="series/${k}"`),
    );
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(html).toContain("The newest 4 of 4, newest first.");
    expect(html).toContain(`>add support for Clang&#39;s Shadow Call Stack</a>`);
    expect(html).toContain(
      `<a href="https://lore.kernel.org/all/20200128184934.77625-1-samitolvanen%40google.com/" rel="noopener noreferrer">lore</a>`,
    );
    expect(html).toContain(`<a href="${ISSUE}" rel="noopener noreferrer">issue</a>`);
    expect(html).toContain(">1 h ago</time>");
  });

  it("GET /series/<key>: the finding at its line in the quoted hunk, and the series' other revision", async () => {
    const res = await get(`/series/${keys.v1}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain(
      `<div class="where">${SWITCH_H}:448 in <code>kvm_hyp_handle_dabt_low()</code></div>`,
    );
    expect(html).toMatch(/<span class="hit"><i>448<\/i>\+\t+pr_warn_ratelimited\(/);
    expect(html).toContain(`<a href="${ISSUE}" rel="noopener noreferrer">issue</a>`);
    // v2 came after v1's verdict: its head named its check, and it is linked from here.
    expect(html).toContain(`<a href="${keys.v2}">v2</a>`);
    expect(html).toContain('<span class="kind kind-clean">clean</span>');

    // And back: v1's head forgot its check when v2 arrived; its verdict is still found.
    const back = await (await get(`/series/${keys.v2}`)).text();
    expect(back).toContain(`<a href="${keys.v1}">v1</a>`);
    expect(back).toContain('<span class="kind kind-findings">findings</span>');
  });

  it("hostile mail is shown as text: no markup, no javascript: issue link, ids encoded", async () => {
    const index = await (await get("/")).text();
    const page = await (await get(`/series/${keys.hostile}`)).text();
    for (const html of [index, page]) {
      expect(html).not.toMatch(/<script|<img/);
      // No tag of the page carries an event handler.
      expect(html).not.toMatch(/<[a-zA-Z][^>]*\son[a-z]+=/);
      expect(html).not.toContain("javascript:");
      expect(html).not.toMatch(/[\u202a-\u202e]/);
      expect(html).toContain(
        "KVM: arm64: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &quot;quoted&quot; " +
          '<span class="esc">U+202E</span>gnp.exe<span class="esc">U+202C</span> &amp; more',
      );
      // encodeURIComponent leaves ' as it is: the attribute escapes it.
      const lore = `${LORE}/${encodeURIComponent(HOSTILE_ID)}/`.replaceAll("'", "&#39;");
      expect(html).toContain(`href="${lore}"`);
    }
    expect(page).toContain("&lt;img src=x onerror=alert(1)&gt;");
  });

  it("GET /api/verdicts: the verdicts as stored, newest first, with their links; limit bounded", async () => {
    const res = await get("/api/verdicts?limit=2");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(res.headers.get("content-security-policy")).toContain("sandbox");
    const body = (await res.json()) as {
      total: number;
      limit: number;
      verdicts: { verdict: Verdict; links: Record<string, string | null> }[];
    };
    expect(body).toMatchObject({ total: 4, limit: 2 });
    expect(body.verdicts.map((v) => v.verdict.checkKey)).toEqual([keys.hostile, keys.v2]);
    expect(body.verdicts[0]!.verdict).toEqual(await t.store.verdict(keys.hostile));
    expect(body.verdicts[0]!.links).toEqual({
      page: `series/${keys.hostile}`,
      lore: `${LORE}/${encodeURIComponent(HOSTILE_ID)}/`,
      issue: null,
    });

    const all = (await (await get("/api/verdicts")).json()) as typeof body;
    expect(all.verdicts).toHaveLength(4);
    const huge = (await (await get("/api/verdicts?limit=100000")).json()) as typeof body;
    expect(huge.limit).toBe(API_MAX_LIMIT);
    for (const bad of ["0", "-1", "abc", "1.5", "1e3", "", "99999999999"])
      expect((await get(`/api/verdicts?limit=${bad}`)).status).toBe(400);
  });

  it("GET /api/verdicts/<key>: one verdict with its issue; 404 unknown, 400 not a check key", async () => {
    const res = await get(`/api/verdicts/${keys.v1}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { verdict: Verdict; links: Record<string, string | null> };
    expect(body.verdict).toEqual(await t.store.verdict(keys.v1));
    expect(body.verdict.result?.findings.map((f) => f.symbol)).toEqual(["___ratelimit", "_printk"]);
    expect(body.links).toEqual({
      page: `series/${keys.v1}`,
      lore: `${LORE}/cover.1795632516.git.ada%40example.org/`,
      issue: ISSUE,
    });
    const unknown = "0123456789abcdef01234567";
    expect((await get(`/api/verdicts/${unknown}`)).status).toBe(404);
    expect((await get(`/series/${unknown}`)).status).toBe(404);
    for (const bad of [
      "%3Cscript%3E",
      "..%2F..%2Fetc",
      keys.v1.toUpperCase(),
      `${keys.v1}x`,
      "abc",
      "",
    ]) {
      const answer = await get(`/series/${bad}`);
      expect(answer.status).toBe(400);
      expect(await answer.text()).toBe("not a check key\n");
      expect((await get(`/api/verdicts/${bad}`)).status).toBe(400);
    }
  });

  it("GET /verdicts.atom: a valid Atom feed of the same verdicts", async () => {
    const res = await get("/verdicts.atom");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/atom+xml; charset=utf-8");
    const xml = await res.text();
    expect(XMLValidator.validate(xml)).toBe(true);
    const feed = new XMLParser({ isArray: (n) => n === "entry" }).parse(xml).feed as {
      entry: { id: string }[];
    };
    expect(feed.entry.map((e) => e.id)).toEqual(
      [keys.hostile, keys.v2, keys.v1, keys.scs].map((k) => `tag:hypwatch,2025:verdict/${k}`),
    );
    expect(xml).not.toContain("<script");
    expect(xml).not.toContain("javascript:");
  });

  it("other paths are 404, other methods too; HEAD answers GET's headers", async () => {
    for (const route of ["/nope", "/series", `/series/${keys.v1}/x`, "/api", "/api/verdicts/"])
      expect((await get(route)).status, route).toBe(route === "/api/verdicts/" ? 400 : 404);
    expect((await get("/", { method: "POST", body: "x" })).status).toBe(404);
    const head = await get(`/series/${keys.v1}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get("content-length"))).toBeGreaterThan(1000);
    expect(await head.text()).toBe("");
  });
});
