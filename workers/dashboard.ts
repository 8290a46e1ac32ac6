import type { IncomingMessage, ServerResponse } from "node:http";
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import { Queue, type ConnectionOptions } from "bullmq";
import { pause } from "../src/intake/live/common.js";
import type { Logger } from "../src/log.js";
import { loadReportContext } from "../src/notify/context.js";
import { renderAtomFeed } from "../src/report/atom.js";
import {
  DASHBOARD_CSP,
  httpUrl,
  loreMessageUrl,
  renderIndexPage,
  renderSeriesPage,
  seriesPagePath,
  type RevisionSummary,
} from "../src/report/html.js";
import type { Verdict } from "../src/shapes/verdict.js";
import type { StateStore } from "../src/state/store.js";
import { CHECK_QUEUE } from "./check.js";
import { DIGEST_QUEUE } from "./digest.js";
import { REPORT_QUEUE } from "./report.js";
import { SCAN_QUEUE } from "./scan.js";
import type { WebReply } from "./web.js";

/*
 * The dashboard's routes (docs/dashboard.md), mounted on the service's web server: pages
 * and data read from the store on each request, rendered by src/report/html.ts and atom.ts.
 */

export interface DashboardOptions {
  store: StateStore;
  /** lore inbox base for message links (`lore.url`, default https://lore.kernel.org/all). */
  loreUrl: string;
  clock?: () => number;
  /** Link the queue board (`queueBoard`, mounted at `QUEUE_BOARD_PATH`) from the index. */
  queueBoard?: boolean;
}

/** Verdicts on the front page. */
export const INDEX_VERDICTS = 100;
/** `/api/verdicts` without `limit`, and the most it gives. */
export const API_DEFAULT_LIMIT = 50;
export const API_MAX_LIMIT = 500;
export const FEED_ENTRIES = 50;
/**
 * A series head forgets its check once a newer revision arrives: the verdicts of those older
 * revisions are looked for among this many newest verdicts.
 */
export const REVISION_SEARCH = 1000;

/** Check keys are hex digests; anything else is refused before the store is asked. */
const CHECK_KEY = /^[0-9a-f]{16,64}$/;

/** The ledger entry holding a series' GitHub issue URL. */
export function issueLedgerKey(list: string, seriesId: string): string {
  return `github:series:${list}:${seriesId}`;
}

const HTML_TYPE = "text/html; charset=utf-8";
const JSON_TYPE = "application/json; charset=utf-8";
const ATOM_TYPE = "application/atom+xml; charset=utf-8";
const TEXT_TYPE = "text/plain; charset=utf-8";

const COMMON_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};
/** Data, not documents: a browser opening them runs and loads nothing. */
const DATA_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox";

const reply = (status: number, contentType: string, body: string, csp = DATA_CSP): WebReply => ({
  status,
  contentType,
  body,
  headers: { ...COMMON_HEADERS, "content-security-policy": csp },
});
const htmlReply = (body: string) => reply(200, HTML_TYPE, body, DASHBOARD_CSP);
const jsonReply = (status: number, value: unknown) =>
  reply(status, JSON_TYPE, `${JSON.stringify(value)}\n`);
const badRequest = (message: string) => reply(400, TEXT_TYPE, `${message}\n`);
const notFound = () => reply(404, TEXT_TYPE, "not found\n");

/** What `/api/verdicts` gives beside each verdict. */
export interface VerdictLinks {
  /** The verdict's page, relative to the dashboard's root. */
  page: string;
  /** The series' first message (cover letter, else first patch) on lore. */
  lore: string;
  /** The series' GitHub issue; null when none was opened (or it is not an http(s) URL). */
  issue: string | null;
}

/** `GET /`, `/series/<key>`, `/api/verdicts`, `/api/verdicts/<key>`, `/verdicts.atom`. */
export function dashboardRoutes(opts: DashboardOptions): (url: URL) => Promise<WebReply | null> {
  const { store, loreUrl } = opts;
  const now = () => (opts.clock ?? Date.now)();

  const issueOf = async (v: Verdict) =>
    httpUrl(await store.sideEffect(issueLedgerKey(v.list, v.seriesId)));
  const withIssues = (verdicts: Verdict[]) =>
    Promise.all(verdicts.map(async (verdict) => ({ verdict, issueUrl: await issueOf(verdict) })));
  const links = (v: Verdict, issue: string | null): VerdictLinks => ({
    page: seriesPagePath(v.checkKey),
    lore: loreMessageUrl(loreUrl, v.seriesId),
    issue,
  });

  async function index(): Promise<WebReply> {
    const [verdicts, total] = await Promise.all([
      store.latestVerdicts(INDEX_VERDICTS),
      store.verdictCount(),
    ]);
    const rows = await withIssues(verdicts);
    const html = renderIndexPage({ rows, total, loreUrl, now: now() });
    // The header's nav comes before anything from mail, and mail text is escaped: the first
    // `<nav>` is the header's.
    return htmlReply(
      opts.queueBoard
        ? html.replace("<nav>", `<nav><a href="${QUEUE_BOARD_LINK}">Queues</a>`)
        : html,
    );
  }

  async function seriesPage(checkKey: string): Promise<WebReply> {
    const context = await loadReportContext(store, checkKey);
    if (!context) return notFound();
    const { verdict, list, series } = context.current;
    const [revisions, issueUrl] = await Promise.all([
      otherRevisions(store, list, series.revisions),
      issueOf(verdict),
    ]);
    const current: RevisionSummary = {
      version: series.version,
      checkKey,
      kind: verdict.kind,
      partial: verdict.partial,
      recordedAt: verdict.recordedAt,
    };
    return htmlReply(
      renderSeriesPage({
        context,
        revisions: [current, ...revisions],
        issueUrl,
        loreUrl,
        now: now(),
      }),
    );
  }

  async function apiList(url: URL): Promise<WebReply> {
    const raw = url.searchParams.get("limit");
    if (raw !== null && !/^[1-9][0-9]{0,8}$/.test(raw))
      return badRequest("limit: a whole number from 1");
    const limit = Math.min(raw === null ? API_DEFAULT_LIMIT : Number(raw), API_MAX_LIMIT);
    const [verdicts, total] = await Promise.all([
      store.latestVerdicts(limit),
      store.verdictCount(),
    ]);
    const rows = await withIssues(verdicts);
    return jsonReply(200, {
      total,
      limit,
      verdicts: rows.map((r) => ({ verdict: r.verdict, links: links(r.verdict, r.issueUrl) })),
    });
  }

  async function apiOne(checkKey: string): Promise<WebReply> {
    const verdict = await store.verdict(checkKey);
    if (!verdict) return notFound();
    return jsonReply(200, { verdict, links: links(verdict, await issueOf(verdict)) });
  }

  async function feed(): Promise<WebReply> {
    const entries = await withIssues(await store.latestVerdicts(FEED_ENTRIES));
    return reply(200, ATOM_TYPE, renderAtomFeed({ entries, loreUrl, now: now() }));
  }

  return async (url) => {
    const path = url.pathname;
    if (path === "/") return index();
    if (path === "/verdicts.atom") return feed();
    if (path === "/api/verdicts") return apiList(url);
    const keyed = /^\/(series|api\/verdicts)\/([^/]*)$/.exec(path);
    if (!keyed) return null;
    const [, route, key = ""] = keyed;
    if (!CHECK_KEY.test(key)) return badRequest("not a check key");
    return route === "series" ? seriesPage(key) : apiOne(key);
  };
}

/**
 * The other revisions of a series with their verdicts, if any: a revision's head names its
 * check while it is the newest; the verdicts of older ones are found among the newest
 * `REVISION_SEARCH` verdicts by series id and version.
 */
async function otherRevisions(
  store: StateStore,
  list: string,
  revisions: readonly { id: string; version: number }[],
): Promise<RevisionSummary[]> {
  const heads = await store.heads(list, revisions);
  const byHead = await Promise.all(
    heads.map((head) => (head?.check ? store.verdict(head.check) : null)),
  );
  const found = new Map<string, Verdict>();
  const tag = (id: string, version: number) => `${id}\0${version}`;
  for (const v of byHead) if (v) found.set(tag(v.seriesId, v.version), v);
  if (revisions.some((r) => !found.has(tag(r.id, r.version)))) {
    const wanted = new Set(revisions.map((r) => tag(r.id, r.version)));
    for (const v of await store.latestVerdicts(REVISION_SEARCH)) {
      const t = tag(v.seriesId, v.version);
      if (v.list === list && wanted.has(t) && !found.has(t)) found.set(t, v);
    }
  }
  return revisions.map((r) => {
    const v = found.get(tag(r.id, r.version));
    return {
      version: r.version,
      checkKey: v?.checkKey ?? null,
      kind: v?.kind ?? null,
      partial: v?.partial ?? false,
      recordedAt: v?.recordedAt ?? null,
    };
  });
}

/** Where the web server mounts the queue board. */
export const QUEUE_BOARD_PATH = "/queues";
/** The board from the dashboard's root, with the slash its pages' base URL has. */
const QUEUE_BOARD_LINK = "queues/";
/** The service's queues, as the board lists them. */
export const BOARD_QUEUES = [CHECK_QUEUE, SCAN_QUEUE, REPORT_QUEUE, DIGEST_QUEUE] as const;

/**
 * bull-board's pages run its own scripts and styles from its `static/` route and ask its
 * JSON API; nothing else loads (its Google Fonts stylesheet included: the system fonts stand
 * in), nothing frames it.
 */
export const QUEUE_BOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export interface QueueBoardOptions {
  connection: ConnectionOptions;
  /** The service's queue key prefix (`service.queuePrefix`). */
  prefix: string;
  log: Logger;
}

export interface QueueBoard {
  /** Answer a request under `QUEUE_BOARD_PATH` (its path still starting with it). */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Drop the queues' Redis connections. */
  close(): Promise<void>;
}

/**
 * bull-board over the service's queues, read-only: the web server has no authentication, so
 * nothing on it may retry, remove, pause or add a job. bull-board refuses those for a
 * read-only queue, and only GET and HEAD get to it at all (no form or script elsewhere can
 * change a queue through a browser that can reach it).
 */
export function queueBoard(opts: QueueBoardOptions): QueueBoard {
  const queues = BOARD_QUEUES.map((name) => {
    const queue = new Queue(name, { connection: opts.connection, prefix: opts.prefix });
    // An outage is the Redis watcher's to report; the board's API answers 500 meanwhile.
    queue.on("error", (error) => opts.log.debug({ err: error, queue: name }, "queue error"));
    return queue;
  });
  const adapter = new ExpressAdapter().setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
    serverAdapter: adapter,
    options: {
      uiConfig: {
        boardTitle: "hypwatch queues",
        hideDocsLink: true,
        miscLinks: [{ text: "Verdicts", url: "../" }],
      },
    },
  });
  const app = adapter.getRouter() as ((req: IncomingMessage, res: ServerResponse) => void) & {
    disable(setting: string): void;
  };
  app.disable("x-powered-by");

  return {
    handle(req, res) {
      res.setHeader("content-security-policy", QUEUE_BOARD_CSP);
      res.setHeader("cache-control", "no-store");
      for (const [name, value] of Object.entries(COMMON_HEADERS)) res.setHeader(name, value);
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD", "content-type": TEXT_TYPE });
        res.end("read-only\n");
        return;
      }
      // As express mounts a sub-app: the board routes from its own root.
      const rest = (req.url ?? "").slice(QUEUE_BOARD_PATH.length);
      req.url = rest.startsWith("/") ? rest : `/${rest}`;
      app(req, res);
    },
    async close() {
      // Redis may be down: a connection is dropped, not waited for.
      await Promise.race([
        Promise.all(queues.map((queue) => queue.disconnect().catch(() => undefined))),
        pause(1000),
      ]);
    },
  };
}
