import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Queue } from "bullmq";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  HOSTILE_FUNCTION,
  HOSTILE_SUBJECT,
  LORE,
  NOW,
  SWITCH_H,
  seedDashboard,
  type Seeded,
} from "../test/dashboard-seed.js";
import { captureLog } from "../test/log-capture.js";
import { freshStore, TEST_REDIS_URL, type TestStore } from "../test/state.js";
import { DASHBOARD_CSP } from "../src/report/html.js";
import { CHECK_QUEUE } from "./check.js";
import { redisConnection } from "./connection.js";
import { BOARD_QUEUES, dashboardRoutes, QUEUE_BOARD_CSP } from "./dashboard.js";
import { createMetrics } from "./metrics.js";
import { SCAN_QUEUE } from "./scan.js";
import { startWebServer, type WebServer } from "./web.js";

/*
 * The dashboard and the queue board as a person sees them: Debian's Chromium, driven by
 * playwright-core, on the service's web server over a seeded store on the real Redis. The
 * screenshots go to $HYPWATCH_SCREENSHOTS (docs/img holds copies), else to a temporary
 * directory that is kept for a person to look at.
 */

const CHROMIUM = "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const LAUNCH_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const V1_SUBJECT = "KVM: arm64: Say more about GICv2 CPU interface traps and VHE panics";

let t: TestStore;
let dir: string;
let shots: string;
let server: WebServer;
let keys: Seeded;
let queues: Queue[] = [];

beforeAll(async () => {
  t = await freshStore();
  dir = await mkdtemp(path.join(tmpdir(), "hypwatch-dashboard-browser-"));
  shots = process.env.HYPWATCH_SCREENSHOTS ?? path.join(dir, "screenshots");
  await mkdir(shots, { recursive: true });
  keys = await seedDashboard(t.store, dir);
  // Work waiting in the queues, as the service leaves it: a queued check and a scan.
  const connection = redisConnection(TEST_REDIS_URL);
  queues = [CHECK_QUEUE, SCAN_QUEUE].map(
    (name) => new Queue(name, { connection, prefix: t.prefix }),
  );
  await queues[0]!.add("check", { checkKey: keys.v2, revision: "kvmarm:v2" }, { jobId: keys.v2 });
  await queues[1]!.add("scan", { source: "kvmarm-0.git" }, { delay: 3600_000 });
  server = await startWebServer({
    host: "127.0.0.1",
    port: 0,
    metrics: createMetrics(),
    health: async () => ({ ok: true, checks: {} }),
    log: captureLog().log,
    dashboard: dashboardRoutes({
      store: t.store,
      loreUrl: LORE,
      clock: () => NOW,
      queueBoard: true,
    }),
    queues: { connection, prefix: t.prefix },
  });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await Promise.all(queues.map((q) => q.close()));
  await t?.drop();
  // The screenshots stay when they were written into the temporary directory.
  if (dir && process.env.HYPWATCH_SCREENSHOTS) await rm(dir, { recursive: true, force: true });
  else if (dir) console.info(`dashboard screenshots: ${shots}`);
});

const get = (route: string, init?: RequestInit) => fetch(`${server.url}${route}`, init);

describe("the queue board on the web server (real Redis)", () => {
  it("/queues answers bull-board's page with its own CSP; the dashboard keeps its own", async () => {
    const board = await get("/queues/");
    expect(board.status).toBe(200);
    expect(board.headers.get("content-type")).toMatch(/^text\/html/);
    expect(board.headers.get("content-security-policy")).toBe(QUEUE_BOARD_CSP);
    expect(board.headers.get("x-content-type-options")).toBe("nosniff");
    expect(board.headers.get("x-powered-by")).toBeNull();
    const html = await board.text();
    expect(html).toContain('<base href="/queues/" />');
    expect(html).toMatch(/<script defer src="static\/js\/main\.[0-9a-f]+\.js">/);
    const script = /src="(static\/js\/main\.[0-9a-f]+\.js)"/.exec(html)![1]!;
    expect((await get(`/queues/${script}`)).status).toBe(200);

    const index = await get("/");
    expect(index.headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
    expect(await index.text()).toContain('<nav><a href="queues/">Queues</a>');
    expect((await get("/queues?x=1")).status).toBe(200);
    expect((await get("/queuesx")).status).toBe(404);
  });

  it("lists the service's queues under its prefix, read-only; anything but GET is refused", async () => {
    const res = await get("/queues/api/queues");
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      queues: { name: string; readOnlyMode: boolean; counts: Record<string, number> }[];
    };
    expect(body.queues.map((q) => q.name).sort()).toEqual([...BOARD_QUEUES].sort());
    expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
    const counts = Object.fromEntries(body.queues.map((q) => [q.name, q.counts]));
    expect(counts[CHECK_QUEUE]).toMatchObject({ waiting: 1 });
    expect(counts[SCAN_QUEUE]).toMatchObject({ delayed: 1 });

    for (const [method, route] of [
      ["PUT", `/queues/api/queues/${CHECK_QUEUE}/pause`],
      ["PUT", `/queues/api/queues/${CHECK_QUEUE}/empty`],
      ["PUT", `/queues/api/queues/${CHECK_QUEUE}/${keys.v2}/clean`],
      ["POST", `/queues/api/queues/${CHECK_QUEUE}/add`],
      ["PATCH", `/queues/api/queues/${CHECK_QUEUE}/${keys.v2}/update-data`],
    ] as const) {
      const refused = await get(route, { method, body: "{}" });
      expect(refused.status, `${method} ${route}`).toBe(405);
      expect(refused.headers.get("allow")).toBe("GET, HEAD");
    }
    expect(await queues[0]!.isPaused()).toBe(false);
    expect(await queues[0]!.getJobCounts("waiting")).toEqual({ waiting: 1 });
  });
});

describe.skipIf(!HAVE_CHROMIUM)(
  `the dashboard in a real browser (needs Debian's chromium at ${CHROMIUM})`,
  () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
    }, 30_000);
    afterAll(async () => {
      await browser?.close();
    });

    /** A page that records what would show that a script ran: dialogs, console, errors. */
    async function openPage(): Promise<{ page: Page; events: string[] }> {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const events: string[] = [];
      page.on("dialog", (d) => {
        events.push(`dialog: ${d.message()}`);
        void d.dismiss();
      });
      page.on("console", (m) => events.push(`console.${m.type()}: ${m.text()}`));
      page.on("pageerror", (e) => events.push(`pageerror: ${e.message}`));
      return { page, events };
    }

    it("index -> series page: the finding's line in the quoted hunk; no script runs", async () => {
      const { page, events } = await openPage();
      await page.goto(`${server.url}/`);
      await expect.poll(() => page.title()).toBe("hypwatch: verdicts");
      const rows = page.locator("tbody tr");
      expect(await rows.count()).toBe(4);
      // The hostile subject is text on the page, its <script> shown, not run.
      await page.getByText(HOSTILE_SUBJECT.slice(0, 40)).waitFor();
      expect(await page.locator("script").count()).toBe(0);
      await page.screenshot({ path: path.join(shots, "dashboard-index.png"), fullPage: true });

      const v1 = rows
        .filter({ hasText: V1_SUBJECT })
        .filter({ has: page.locator(".kind-findings") })
        .filter({ hasText: "v1" });
      await v1.locator("td.subject a").click();
      await page.waitForURL(`${server.url}/series/${keys.v1}`);
      const hit = page.locator("pre.hunk .hit").first();
      await hit.waitFor({ state: "visible" });
      expect(await hit.textContent()).toMatch(/^448\+\t+pr_warn_ratelimited\(/);
      await page.getByText(`${SWITCH_H}:448 in`).first().waitFor({ state: "visible" });
      await page.screenshot({ path: path.join(shots, "dashboard-series.png"), fullPage: true });

      // The hostile series: its markup in the subject and the function name stays text.
      await page.goto(`${server.url}/series/${keys.hostile}`);
      await page.getByText(HOSTILE_FUNCTION.slice(0, 20)).first().waitFor();
      expect(await page.locator("script, img, iframe, object, embed").count()).toBe(0);
      expect(events).toEqual([]);

      // And the browser enforces the policy: a script put into the page does not run.
      const violations: string[] = [];
      await page.exposeFunction("reportViolation", (d: string) => void violations.push(d));
      // A string: the page's DOM is not in this project's types.
      await page.evaluate(`
        document.addEventListener("securitypolicyviolation", (e) => reportViolation(e.violatedDirective));
        const script = document.createElement("script");
        script.textContent = "document.title = 'ran'";
        document.body.append(script);
      `);
      await expect.poll(() => violations).toEqual(["script-src-elem"]);
      expect(await page.title()).not.toBe("ran");
      expect(events.filter((e) => !/Content Security Policy/.test(e))).toEqual([]);
      await page.close();
    });

    it("/queues from the index: bull-board shows the service's queues", async () => {
      const { page, events } = await openPage();
      await page.goto(`${server.url}/`);
      await page.getByRole("link", { name: "Queues" }).click();
      await page.waitForURL(`${server.url}/queues/`);
      for (const name of BOARD_QUEUES)
        await page.getByText(name, { exact: true }).first().waitFor({ state: "visible" });
      await page.screenshot({ path: path.join(shots, "queues.png"), fullPage: true });
      // bull-board's scripts ran (it rendered) and nothing failed; the only complaint is its
      // Google Fonts stylesheet, which the board's CSP keeps from loading.
      const complaints = events.filter((e) => !/fonts\.googleapis\.com/.test(e));
      expect(complaints).toEqual([]);
      await page.close();
    });
  },
);
