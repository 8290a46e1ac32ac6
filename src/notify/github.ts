import { randomUUID } from "node:crypto";
import { retry } from "@octokit/plugin-retry";
import { throttling } from "@octokit/plugin-throttling";
import { Octokit } from "@octokit/rest";
import Bottleneck from "bottleneck";
import type { Config } from "../config.js";
import { HypwatchError } from "../errors.js";
import { redact, type Logger } from "../log.js";
import {
  isVerdictComment,
  parseMarker,
  planIssue,
  seriesToken,
  verdictToken,
  type GithubRenderOptions,
  type IssuePlan,
} from "../report/github.js";
import type { ReportContext } from "../shapes/report.js";
import type { StateStore } from "../state/store.js";
import { packageVersion } from "../version.js";
import type { Reporter } from "./reporter.js";

/*
 * The GitHub issue feed (docs/github.md): one issue per series in one repository, created on
 * the first verdict with findings, updated on each later revision with a comment saying what
 * changed, closed when a revision is clean, applied or superseded, reopened when findings
 * return. Each side effect happens once per verdict: the store's ledger says what was done,
 * and the hidden markers in issue bodies and comments find what was done just before a
 * crash kept the ledger from saying so.
 */

/** The ledger key naming a series revision's issue; its detail is the issue's html_url. */
export const githubIssueKey = (list: string, seriesId: string): string =>
  `github:series:${list}:${seriesId}`;

/** The ledger key of one verdict's report. */
export const githubVerdictKey = (idempotencyKey: string): string => `github:${idempotencyKey}`;

const commentKey = (idempotencyKey: string): string => `github:${idempotencyKey}:comment`;

/** The issue number of an html_url the ledger holds, when it is in `owner/repo`. */
export function issueNumberOf(url: string, owner: string, repo: string): number | null {
  const match = /\/([^/]+)\/([^/]+)\/issues\/(\d+)$/.exec(url);
  if (!match || match[1]?.toLowerCase() !== owner.toLowerCase()) return null;
  if (match[2]?.toLowerCase() !== repo.toLowerCase()) return null;
  return Number(match[3]);
}

/** GitHub answered with an error, or could not be reached, after the plugins' retries. */
export class GithubApiError extends HypwatchError {
  constructor(
    readonly kind: "permanent" | "upstream",
    readonly status: number | null,
    message: string,
    options?: ErrorOptions,
  ) {
    super(redact(message), options);
  }
}

/** Another worker is reporting to the same repository now; the job is retried after it. */
export class GithubInFlightError extends HypwatchError {
  readonly kind = "transient";
}

export interface GithubClientOptions {
  token: string;
  /** `https://api.github.com`, or a GitHub Enterprise Server's `/api/v3`. */
  baseUrl?: string;
  log: Logger;
  /** Retries of a request GitHub answered with a 5xx (plugin-retry). */
  retries?: number;
  /** Retries of a request after a primary or secondary rate limit (plugin-throttling). */
  rateLimitRetries?: number;
  /**
   * The longest wait for a rate limit to lift; a longer one fails the request, and the report
   * job is retried later instead of holding its worker.
   */
  maxRateLimitWaitSeconds?: number;
  /** Milliseconds per second of the waits GitHub asks for: 1000, smaller in tests. */
  retryAfterBaseMs?: number;
  /** Spacing between writes: GitHub asks for a second between requests that create content. */
  writeSpacingMs?: number;
}

const GithubOctokit = Octokit.plugin(retry, throttling);
const REQUEST_TIMEOUT_MS = 60_000;
export type GithubClient = InstanceType<typeof GithubOctokit>;

/**
 * Octokit with the retry plugin (5xx answers, a bounded number of times, backing off) and the
 * throttling plugin (writes spaced, primary and secondary rate limits waited out a bounded
 * number of times, each logged).
 */
export function githubClient(options: GithubClientOptions): GithubClient {
  const log = options.log;
  const base = options.retryAfterBaseMs ?? 1000;
  const spacing = options.writeSpacingMs ?? 1000;
  const rateLimitRetries = options.rateLimitRetries ?? 3;
  const maxWait = options.maxRateLimitWaitSeconds ?? 15 * 60;
  const onLimit =
    (which: "primary" | "secondary") =>
    (retryAfter: number, request: { method: string; url: string }, _o: unknown, count: number) => {
      const retrying = count < rateLimitRetries && retryAfter <= maxWait;
      log.warn(
        { method: request.method, url: request.url, retryAfter, retryCount: count, retrying },
        `GitHub ${which} rate limit`,
      );
      return retrying;
    };
  const group = (minTime: number) => new Bottleneck.Group({ maxConcurrent: 1, minTime });
  return new GithubOctokit({
    auth: options.token,
    baseUrl: options.baseUrl ?? "https://api.github.com",
    userAgent: `hypwatch/${packageVersion()}`,
    log: {
      debug: (message: string) => log.debug({ octokit: redact(message) }, "GitHub request"),
      info: (message: string) => log.debug({ octokit: redact(message) }, "GitHub request"),
      warn: (message: string) => log.warn({ octokit: redact(message) }, "GitHub warning"),
      error: (message: string) => log.debug({ octokit: redact(message) }, "GitHub request failed"),
    },
    retry: {
      retries: options.retries ?? 3,
      retryAfterBaseValue: base,
      // Rate limits are the throttling plugin's.
      doNotRetry: [400, 401, 403, 404, 410, 422, 429, 451],
    },
    throttle: {
      retryAfterBaseValue: base,
      // Limiters of this client's own, so a test's spacing is not every client's.
      write: group(spacing),
      notifications: group(spacing),
      search: group(2 * spacing),
      onRateLimit: onLimit("primary"),
      onSecondaryRateLimit: onLimit("secondary"),
    },
    // A request GitHub does not answer within a minute is aborted (and retried as a 5xx).
    request: {
      fetch: (url: string | URL, init?: RequestInit) =>
        fetch(url, { ...init, signal: init?.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS) }),
    },
  });
}

function asGithubError(error: unknown, doing: string): Error {
  if (error instanceof HypwatchError) return error;
  const status = (error as { status?: unknown }).status;
  const message = `GitHub: ${doing}: ${error instanceof Error ? error.message : String(error)}`;
  if (typeof status !== "number")
    return new GithubApiError("upstream", null, message, { cause: error });
  // A bad token, a repository that does not exist, a refused body or a missing permission:
  // retrying cannot help. A 403 is a rate limit the retries did not outlast, or a permission.
  const headers = (error as { response?: { headers?: Record<string, unknown> } }).response?.headers;
  const rateLimited =
    headers?.["x-ratelimit-remaining"] === "0" ||
    headers?.["retry-after"] !== undefined ||
    /rate limit/i.test(message);
  const permanent = [400, 401, 404, 410, 422].includes(status) || (status === 403 && !rateLimited);
  return new GithubApiError(permanent ? "permanent" : "upstream", status, message, {
    cause: error,
  });
}

export interface GithubReporterOptions {
  /** A client made by `githubClient`; else one is made from `token` and `baseUrl`. */
  octokit?: GithubClient;
  token?: string;
  baseUrl?: string;
  owner: string;
  repo: string;
  store: StateStore;
  log: Logger;
  /** Lists whose series get issues; all when unset. */
  lists?: string[];
  /** Where message links point (`lore.url`). */
  loreUrl?: string;
  /** Client settings when the reporter makes its client (see GithubClientOptions). */
  client?: Omit<GithubClientOptions, "token" | "baseUrl" | "log">;
  bodyLimit?: number;
}

/** An issue as the reporter needs it. */
interface FoundIssue {
  number: number;
  html_url: string;
  state: "open" | "closed";
  body: string;
}

const LEASE_MS = 10 * 60_000;
/** Revisions whose marker is looked up with the search API before listing recent issues. */
const SEARCHED_REVISIONS = 3;

export function githubReporter(options: GithubReporterOptions): Reporter {
  const { owner, repo, store } = options;
  const log = options.log.child({ reporter: "github", repository: `${owner}/${repo}` });
  if (!options.octokit && !options.token) {
    throw new GithubApiError("permanent", null, "GitHub reporter: neither a client nor a token");
  }
  const octokit =
    options.octokit ??
    githubClient({ token: options.token ?? "", baseUrl: options.baseUrl, log, ...options.client });
  const render: GithubRenderOptions = {
    loreUrl: options.loreUrl ?? "https://lore.kernel.org/all",
    bodyLimit: options.bodyLimit,
  };
  const holder = randomUUID();
  const lease = `github:${owner}/${repo}`;

  const call = async <T>(doing: string, request: () => Promise<T>): Promise<T> => {
    try {
      return await request();
    } catch (error) {
      throw asGithubError(error, doing);
    }
  };

  const found = (data: {
    number: number;
    html_url: string;
    state: string;
    body?: string | null;
  }): FoundIssue => ({
    number: data.number,
    html_url: data.html_url,
    state: data.state === "closed" ? "closed" : "open",
    body: data.body ?? "",
  });

  async function issueByNumber(number: number): Promise<FoundIssue | null> {
    try {
      const { data } = await octokit.rest.issues.get({ owner, repo, issue_number: number });
      return found(data);
    } catch (error) {
      const status = (error as { status?: unknown }).status;
      // Deleted or transferred: the series gets a new issue.
      if (status === 404 || status === 410) return null;
      throw asGithubError(error, `reading issue #${number}`);
    }
  }

  /**
   * The series' issue: from the ledger (this revision's or an earlier one's), else by the
   * marker: the search API for older issues, the newest labelled issues for one created
   * moments ago (GitHub's search index lags).
   */
  async function findIssue(context: ReportContext): Promise<FoundIssue | null> {
    const { list, series } = context.current;
    const ids = [series.id, ...[...series.revisions].reverse().map((r) => r.id)];
    for (const id of ids) {
      const url = await store.sideEffect(githubIssueKey(list, id));
      const number = url ? issueNumberOf(url, owner, repo) : null;
      if (number === null) continue;
      const issue = await issueByNumber(number);
      if (issue) return issue;
      log.warn({ issue: url }, "the series' issue is gone; looking for another");
    }
    const tokens = ids.map((id) => seriesToken(list, id));
    const ours = (issue: { body?: string | null }) =>
      parseMarker(issue.body)?.series.some((t) => tokens.includes(t)) ?? false;
    for (const token of tokens.slice(0, SEARCHED_REVISIONS)) {
      const { data } = await call("searching issues", () =>
        octokit.rest.search.issuesAndPullRequests({
          q: `${token} repo:${owner}/${repo} is:issue in:body`,
          per_page: 10,
        }),
      );
      const hit = data.items.find(ours);
      if (hit) return found(hit);
    }
    const { data } = await call("listing recent issues", () =>
      octokit.rest.issues.listForRepo({
        owner,
        repo,
        labels: "hypwatch",
        state: "all",
        sort: "created",
        direction: "desc",
        per_page: 100,
      }),
    );
    const hit = data.find(ours);
    return hit ? found(hit) : null;
  }

  /** The verdict's comment, once: the ledger, else its marker among the issue's comments. */
  async function commentOnce(issue: FoundIssue, key: string, text: string): Promise<void> {
    if (await store.sideEffect(commentKey(key))) return;
    const token = verdictToken(key);
    const comments = await call(`listing comments of #${issue.number}`, () =>
      octokit.paginate(octokit.rest.issues.listComments, {
        owner,
        repo,
        issue_number: issue.number,
        per_page: 100,
      }),
    );
    let url = comments.find((c) => isVerdictComment(c.body, token))?.html_url;
    if (!url) {
      const { data } = await call(`commenting on #${issue.number}`, () =>
        octokit.rest.issues.createComment({ owner, repo, issue_number: issue.number, body: text }),
      );
      url = data.html_url;
    }
    await store.recordSideEffect(commentKey(key), url);
  }

  async function carryOut(
    plan: IssuePlan,
    issue: FoundIssue | null,
    key: string,
  ): Promise<FoundIssue | null> {
    switch (plan.action) {
      case "none":
        return issue;
      case "create": {
        const { data } = await call("creating an issue", () =>
          octokit.rest.issues.create({
            owner,
            repo,
            title: plan.title,
            body: plan.body,
            labels: plan.labels,
          }),
        );
        return found(data);
      }
      case "update": {
        if (!issue) throw new Error("an update needs an issue");
        // The comment first: it is what a crash must not lose, and closing comes after it.
        if (plan.comment) await commentOnce(issue, key, plan.comment);
        const { data } = await call(`updating #${issue.number}`, () =>
          octokit.rest.issues.update({
            owner,
            repo,
            issue_number: issue.number,
            title: plan.title,
            body: plan.body,
            labels: plan.labels,
            ...(plan.stateReason ? { state: plan.state, state_reason: plan.stateReason } : {}),
          }),
        );
        return found(data);
      }
    }
  }

  return {
    name: "github",
    async report(context: ReportContext, idempotencyKey: string) {
      const { list, series, verdict } = context.current;
      if (options.lists && !options.lists.includes(list)) return;
      // A problem one patch brings in and a later one removes is answered in the thread,
      // under that patch: the series' issue tracks what the series leaves.
      if (context.steps) return;
      const done = githubVerdictKey(idempotencyKey);
      if (await store.sideEffect(done)) return;
      if (!(await store.holdLease(lease, holder, LEASE_MS))) {
        throw new GithubInFlightError(`another worker is reporting to ${owner}/${repo}`);
      }
      try {
        if (await store.sideEffect(done)) return;
        const before = await findIssue(context);
        const plan = planIssue(
          context,
          before ? { state: before.state, marker: parseMarker(before.body) } : null,
          idempotencyKey,
          render,
        );
        const issue = await carryOut(plan, before, idempotencyKey);
        if (issue) await store.recordSideEffect(githubIssueKey(list, series.id), issue.html_url);
        await store.recordSideEffect(
          done,
          JSON.stringify({ action: plan.action, issue: issue?.html_url ?? null, at: Date.now() }),
        );
        log.info(
          {
            list,
            seriesId: series.id,
            version: verdict.version,
            kind: verdict.kind,
            action: plan.action,
            ...(plan.action === "none" ? { why: plan.why } : {}),
            ...(plan.action === "update" ? { state: plan.state, commented: !!plan.comment } : {}),
            issue: issue?.html_url ?? null,
          },
          "GitHub issue reported",
        );
      } finally {
        await store.releaseLease(lease, holder);
      }
    },
  };
}

/**
 * The reporter the configuration asks for: null when it has no `github` section or the
 * token's environment variable is empty (said in the log).
 */
export function githubReporterFromConfig(
  config: Config,
  store: StateStore,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Reporter | null {
  const github = config.github;
  if (!github) return null;
  const token = env[github.tokenEnv];
  if (!token) {
    log.warn({ tokenEnv: github.tokenEnv }, "GitHub issues off: the token variable is empty");
    return null;
  }
  const [owner = "", repo = ""] = github.repo.split("/");
  return githubReporter({
    token,
    baseUrl: github.apiUrl,
    owner,
    repo,
    store,
    log,
    lists: github.lists,
    loreUrl: config.lore.url,
  });
}
