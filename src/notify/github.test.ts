import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  SCS_FINDINGS,
  contextOf,
  revisionOf,
  reportedRevision,
  scsSeries,
  startGitHubStandIn,
  type GitHubStandIn,
} from "../../test/github-standin.js";
import { captureLog } from "../../test/log-capture.js";
import { freshStore, type TestStore } from "../../test/state.js";
import { configSchema } from "../config.js";
import type { Series } from "../series/index.js";
import type { ReportContext } from "../shapes/report.js";
import type { StateStore } from "../state/store.js";
import {
  GithubApiError,
  GithubInFlightError,
  githubClient,
  githubIssueKey,
  githubReporter,
  githubReporterFromConfig,
  githubVerdictKey,
} from "./github.js";
import type { Reporter } from "./reporter.js";

let v7: Series;
let github: GitHubStandIn;
let state: TestStore;

beforeAll(async () => {
  v7 = await scsSeries();
});

beforeEach(async () => {
  github = await startGitHubStandIn();
  state = await freshStore();
});

afterEach(async () => {
  await github.close();
  await state.drop();
  // Every request the reporter sent and every answer it got is GitHub's documented API.
  expect(github.violations).toEqual([]);
});

function reporter(
  store: StateStore = state.store,
  log = captureLog("debug").log,
  retries = 3,
): Reporter {
  const octokit = githubClient({
    token: github.token,
    baseUrl: github.url,
    log,
    retries,
    retryAfterBaseMs: 2,
    writeSpacingMs: 0,
  });
  return githubReporter({ octokit, owner: github.owner, repo: github.repo, store, log });
}

const writes = () =>
  github.exchanges.filter((e) => e.method !== "GET" && e.status < 300).map((e) => e.operationId);

const comments = (number = 1) => github.issues()[number - 1]?.comments ?? [];

/** The SCS series through v7 (findings), v8 (other findings), v9 (clean) and so on. */
function lifecycle() {
  // Each revision as the assembler saw it when it was checked: the earlier ones linked.
  const all = [7, 8, 9, 10, 11];
  const v8 = revisionOf(v7, 8, all.slice(0, 2));
  const v9 = revisionOf(v7, 9, all.slice(0, 3));
  const v10 = revisionOf(v7, 10, all.slice(0, 4));
  const v11 = revisionOf(v7, 11, all);
  const r7 = reportedRevision(v7, "findings", [SCS_FINDINGS.call(10), SCS_FINDINGS.scs(10)]);
  const r8 = reportedRevision(v8, "findings", [
    SCS_FINDINGS.call(10),
    SCS_FINDINGS.reference(10, null),
  ]);
  const r9 = reportedRevision(v9, "clean");
  const r10 = reportedRevision(v10, "findings", [SCS_FINDINGS.call(11, "scs_load")]);
  const r11 = reportedRevision(v11, "superseded");
  return {
    v7: contextOf(r7),
    v8: contextOf(r8, r7),
    v9: contextOf(r9, r8),
    v10: contextOf(r10, r9),
    v11: contextOf(r11, r10),
  };
}

const keyOf = (context: ReportContext) => `verdict:${context.current.verdict.checkKey}`;

describe("the GitHub issue of a series", () => {
  it("opens one issue for the first verdict with findings, and records it in the ledger", async () => {
    const { v7: context } = lifecycle();
    await reporter().report(context, keyOf(context));

    const [issue, ...more] = github.issues();
    expect(more).toEqual([]);
    expect(issue?.title).toBe("[PATCH v7] add support for Clang's Shadow Call Stack: 2 errors");
    expect(issue?.labels).toEqual([
      "hypwatch",
      "list:kvmarm",
      "state:findings",
      "rule:hyp/instrumentation",
      "rule:hyp/legacy-call-outside-hyp",
    ]);
    expect(issue?.body).toContain(
      "#### Patch 10/11: `[PATCH v7 10/11] arm64: implement Shadow Call Stack`",
    );
    expect(issue?.body).toMatch(
      /<!-- hypwatch-issue hypwatchseries[0-9a-f]{32} v7 hypwatchverdict[0-9a-f]{32} -->$/,
    );
    const json = JSON.parse(/```json\n([\s\S]*?)\n```/.exec(issue?.body ?? "")?.[1] ?? "null");
    expect(json.findings.map((f: { key: string }) => f.key)).toEqual(
      context.current.verdict.result?.findings.map((f) => f.key),
    );
    // The tree's credentials stay on the bot's machine.
    expect(issue?.body).not.toContain("secret");

    const url = `https://github.com/${github.owner}/${github.repo}/issues/1`;
    expect(await state.store.sideEffect(githubIssueKey("kvmarm", v7.id))).toBe(url);
    expect(
      JSON.parse((await state.store.sideEffect(githubVerdictKey(keyOf(context)))) ?? "{}"),
    ).toMatchObject({ action: "create", issue: url });
  });

  it("does nothing for the same verdict again, from this worker or another", async () => {
    const { v7: context } = lifecycle();
    await reporter().report(context, keyOf(context));
    const seen = github.exchanges.length;
    await reporter().report(context, keyOf(context));
    await reporter().report(context, keyOf(context));
    expect(github.exchanges.length).toBe(seen);
    expect(github.issues()).toHaveLength(1);
    expect(writes()).toEqual(["issues/create"]);
  });

  it("finds the issue by its marker after a crash between creating it and the ledger write", async () => {
    const { v7: context } = lifecycle();
    // The first worker dies after GitHub created the issue, before the ledger said so.
    await expect(
      reporter(crashingLedger(state.store)).report(context, keyOf(context)),
    ).rejects.toThrow("crashed");
    expect(github.issues()).toHaveLength(1);
    // GitHub's search index has not caught up: the newest labelled issues are read too.
    github.setSearchLag(true);
    await reporter().report(context, keyOf(context));
    expect(github.issues()).toHaveLength(1);
    expect(writes()).toEqual(["issues/create"]);
    expect(await state.store.sideEffect(githubIssueKey("kvmarm", v7.id))).toMatch(/issues\/1$/);
  });

  it("finds an older issue with the search API when the ledger lost it", async () => {
    const { v7, v8 } = lifecycle();
    await reporter().report(v7, keyOf(v7));
    // A new ledger (another Redis) still finds the series' issue, by its marker.
    const other = await freshStore();
    try {
      await reporter(other.store).report(v8, keyOf(v8));
    } finally {
      await other.drop();
    }
    expect(github.issues()).toHaveLength(1);
    expect(
      github.exchanges.some(
        (e) => e.operationId === "search/issues-and-pull-requests" && e.status === 200,
      ),
    ).toBe(true);
    expect(github.issues()[0]?.title).toContain("[PATCH v8]");
  });

  it("updates the issue for v8 and comments what changed", async () => {
    const { v7, v8 } = lifecycle();
    await reporter().report(v7, keyOf(v7));
    await reporter().report(v8, keyOf(v8));

    const issue = github.issues()[0];
    expect(github.issues()).toHaveLength(1);
    expect(issue?.title).toBe(
      "[PATCH v8] add support for Clang's Shadow Call Stack: 1 error, 1 warning",
    );
    expect(issue?.state).toBe("open");
    expect(issue?.labels).toEqual([
      "hypwatch",
      "list:kvmarm",
      "state:findings",
      "rule:hyp/legacy-call-outside-hyp",
      "rule:hyp/legacy-ref-outside-hyp",
    ]);
    expect(issue?.body).toContain("Previous revision: v7, 2 errors");
    const [comment, ...more] = comments();
    expect(more).toEqual([]);
    expect(comment?.body).toContain("**v8** introduces 1 error, 1 warning.");
    expect(comment?.body).toContain(
      "New since v7:\n- `hyp/legacy-ref-outside-hyp` `init_shadow_call_stack`",
    );
    expect(comment?.body).toContain("Fixed since v7:\n- `hyp/instrumentation` `shadow-call-stack`");
    expect(comment?.body).toContain("Still there since v7: 1.");
    // v8's own id now names the issue too (the dashboard links every revision).
    expect(await state.store.sideEffect(githubIssueKey("kvmarm", v8.current.series.id))).toMatch(
      /issues\/1$/,
    );
  });

  it("closes on a clean revision, reopens when findings return, closes when superseded", async () => {
    const steps = lifecycle();
    const r = reporter();
    for (const step of [steps.v7, steps.v8, steps.v9]) await r.report(step, keyOf(step));
    let issue = github.issues()[0];
    expect(issue?.state).toBe("closed");
    expect(issue?.stateReason).toBe("completed");
    expect(issue?.labels).toEqual(["hypwatch", "list:kvmarm", "state:clean"]);
    expect(issue?.title).toBe("[PATCH v9] add support for Clang's Shadow Call Stack: clean");
    expect(comments().at(-1)?.body).toMatch(/^\*\*v9\*\* introduces no hyp problem\. Closing\./);
    expect(comments().at(-1)?.body).toContain("Fixed since v8:");

    await r.report(steps.v10, keyOf(steps.v10));
    issue = github.issues()[0];
    expect(issue?.state).toBe("open");
    expect(issue?.stateReason).toBe("reopened");
    expect(comments().at(-1)?.body).toMatch(/^Reopening: \*\*v10\*\* introduces 1 error again\./);

    await r.report(steps.v11, keyOf(steps.v11));
    issue = github.issues()[0];
    expect(issue?.state).toBe("closed");
    expect(issue?.stateReason).toBe("not_planned");
    expect(issue?.labels).toContain("state:superseded");
    expect(comments().at(-1)?.body).toContain("**v11** was superseded");

    expect(github.issues()).toHaveLength(1);
    expect(comments()).toHaveLength(4);
    // Each verdict again: nothing more on GitHub.
    const seen = writes().length;
    for (const step of Object.values(steps)) await r.report(step, keyOf(step));
    expect(writes()).toHaveLength(seen);
  });

  it("comments once when a worker dies between commenting and the ledger write", async () => {
    const { v7, v8 } = lifecycle();
    await reporter().report(v7, keyOf(v7));
    await expect(
      reporter(crashingLedger(state.store, ":comment")).report(v8, keyOf(v8)),
    ).rejects.toThrow("crashed");
    expect(comments()).toHaveLength(1);
    await reporter().report(v8, keyOf(v8));
    expect(comments()).toHaveLength(1);
    expect(github.issues()[0]?.title).toContain("[PATCH v8]");
  });

  it("leaves the issue alone for an older revision's verdict arriving late", async () => {
    const { v8 } = lifecycle();
    await reporter().report(v8, keyOf(v8));
    const body = github.issues()[0]?.body;
    // v7's check ran late; by then the assembler links v8 to it.
    const v7late = contextOf(
      reportedRevision(revisionOf(v7, 7, [7, 8]), "findings", [SCS_FINDINGS.scs(10)]),
    );
    await reporter().report(v7late, keyOf(v7late));
    expect(github.issues()[0]?.body).toBe(body);
    expect(comments()).toHaveLength(0);
    expect(github.issues()).toHaveLength(1);
    expect(await state.store.sideEffect(githubVerdictKey(keyOf(v7late)))).toContain(
      '"action":"none"',
    );
  });

  it("opens no issue for a series whose first verdict is clean or superseded", async () => {
    const clean = contextOf(reportedRevision(v7, "clean"));
    await reporter().report(clean, keyOf(clean));
    const superseded = contextOf(reportedRevision(revisionOf(v7, 8, [7, 8]), "superseded"));
    await reporter().report(superseded, keyOf(superseded));
    expect(github.issues()).toHaveLength(0);
    expect(writes()).toEqual([]);
  });

  it("leaves a repository another worker is reporting to, for the job to retry", async () => {
    const { v7: context } = lifecycle();
    await state.store.holdLease(`github:${github.owner}/${github.repo}`, "another worker", 60_000);
    await expect(reporter().report(context, keyOf(context))).rejects.toBeInstanceOf(
      GithubInFlightError,
    );
    expect(github.exchanges).toEqual([]);
    await state.store.releaseLease(`github:${github.owner}/${github.repo}`, "another worker");
    await reporter().report(context, keyOf(context));
    expect(github.issues()).toHaveLength(1);
  });

  it("reports only the configured lists", async () => {
    const { v7: context } = lifecycle();
    const log = captureLog().log;
    const octokit = githubClient({ token: github.token, baseUrl: github.url, log });
    const only = githubReporter({
      octokit,
      owner: github.owner,
      repo: github.repo,
      store: state.store,
      log,
      lists: ["linux-arm-kernel"],
    });
    await only.report(context, keyOf(context));
    expect(github.exchanges).toEqual([]);
  });
});

describe("GitHub's limits and outages", () => {
  it("rides out primary and secondary rate limits and 502s, logging each limit", async () => {
    const { v7, v8 } = lifecycle();
    const capture = captureLog("debug");
    github.failNext(1, "primary-403");
    github.failNext(1, "secondary");
    github.failNext(2, "server-502");
    github.failNext(1, "primary-429");
    await reporter(state.store, capture.log).report(v7, keyOf(v7));
    github.failNext(1, "server-503");
    github.failNext(1, "secondary");
    await reporter(state.store, capture.log).report(v8, keyOf(v8));

    expect(github.issues()).toHaveLength(1);
    expect(comments()).toHaveLength(1);
    expect(github.issues()[0]?.title).toContain("[PATCH v8]");
    const injected = github.exchanges.filter((e) => e.injected).map((e) => e.status);
    expect(injected).toEqual([403, 403, 502, 502, 429, 503, 403]);
    const limits = capture
      .lines()
      .filter((l) => /rate limit/.test(l.msg))
      .map((l) => l.msg);
    expect(limits).toEqual([
      "GitHub primary rate limit",
      "GitHub secondary rate limit",
      "GitHub primary rate limit",
      "GitHub secondary rate limit",
    ]);
    expect(capture.raw.join("\n")).not.toContain(github.token);
  });

  it("fails the report as an upstream error when GitHub stays down, and the retry opens one issue", async () => {
    const { v7: context } = lifecycle();
    github.failNext(4, "server-502");
    const failed = await reporter(state.store, undefined, 2)
      .report(context, keyOf(context))
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(GithubApiError);
    expect((failed as GithubApiError).kind).toBe("upstream");
    expect((failed as GithubApiError).status).toBe(502);
    await reporter().report(context, keyOf(context));
    expect(github.issues()).toHaveLength(1);
  });

  it("gives up on a rate limit after the bounded retries", async () => {
    const { v7: context } = lifecycle();
    github.failNext(10, "primary-403");
    const failed = await reporter()
      .report(context, keyOf(context))
      .catch((e: unknown) => e);
    expect((failed as GithubApiError).kind).toBe("upstream");
    expect((failed as GithubApiError).status).toBe(403);
    // The first request and three retries.
    expect(github.exchanges.filter((e) => e.injected)).toHaveLength(4);
  });
});

describe("the stand-in", () => {
  it("records what GitHub's description does not allow", async () => {
    const log = captureLog().log;
    const octokit = githubClient({ token: github.token, baseUrl: github.url, log, retries: 0 });
    await octokit
      .request("POST /repos/{owner}/{repo}/issues", {
        owner: github.owner,
        repo: github.repo,
        labels: ["x"],
      } as never)
      .catch(() => undefined);
    await octokit
      .request("GET /repos/{owner}/{repo}/issues?colour=red", {
        owner: github.owner,
        repo: github.repo,
        per_page: "many",
      } as never)
      .catch(() => undefined);
    expect(github.violations).toEqual([
      expect.stringContaining("request body: / must have required property 'title'"),
      expect.stringContaining('query parameter "colour" is not in the description'),
      expect.stringContaining("per_page=many"),
    ]);
    github.violations.length = 0;
  });
});

describe("githubReporterFromConfig", () => {
  it("is off without a github section or without a token", () => {
    const log = captureLog().log;
    const base = configSchema.parse({});
    expect(githubReporterFromConfig(base, state.store, log, {})).toBeNull();
    const config = configSchema.parse({ github: { repo: "kvmarm/hyp-reports" } });
    expect(config.github).toEqual({
      repo: "kvmarm/hyp-reports",
      apiUrl: "https://api.github.com",
      tokenEnv: "HYPWATCH_GITHUB_TOKEN",
    });
    expect(githubReporterFromConfig(config, state.store, log, {})).toBeNull();
    expect(
      githubReporterFromConfig(config, state.store, log, { HYPWATCH_GITHUB_TOKEN: "ghp_x" })?.name,
    ).toBe("github");
    expect(() => configSchema.parse({ github: { repo: "not a repo" } })).toThrow();
  });
});

/** A store whose ledger write of a matching key fails once, as if the worker died there. */
function crashingLedger(store: StateStore, matching = ""): StateStore {
  let crashed = false;
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === "recordSideEffect") {
        return async (key: string, detail: string) => {
          if (!crashed && key.endsWith(matching)) {
            crashed = true;
            throw new Error("crashed");
          }
          return target.recordSideEffect(key, detail);
        };
      }
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
