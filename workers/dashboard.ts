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
    return htmlReply(renderIndexPage({ rows, total, loreUrl, now: now() }));
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
