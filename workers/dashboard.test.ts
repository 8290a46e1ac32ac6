import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  HOSTILE_ID,
  ISSUE,
  LORE,
  NOW,
  SWITCH_H,
  seedDashboard,
  type Seeded,
} from "../test/dashboard-seed.js";
import { captureLog } from "../test/log-capture.js";
import { freshStore, type TestStore } from "../test/state.js";
import type { Verdict } from "../src/shapes/verdict.js";
import { API_MAX_LIMIT, dashboardRoutes } from "./dashboard.js";
import { createMetrics } from "./metrics.js";
import { startWebServer, type WebServer } from "./web.js";

let t: TestStore;
let dir: string;
let server: WebServer;
let keys: Seeded;

beforeAll(async () => {
  t = await freshStore();
  dir = await mkdtemp(path.join(tmpdir(), "hypwatch-dashboard-"));
  keys = await seedDashboard(t.store, dir);
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
