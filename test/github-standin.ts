import { createRequire } from "node:module";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fromParameter, fromSchema } from "@openapi-contrib/openapi-schema-to-json-schema";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { RULES, type AttributedFinding } from "../src/check/types.js";
import { readMbox } from "../src/intake/index.js";
import type { RawMail } from "../src/mail/types.js";
import type { Series } from "../src/series/index.js";
import type { CheckResult } from "../src/shapes/check.js";
import type { ReportContext, ReportedRevision } from "../src/shapes/report.js";
import type { VerdictKind } from "../src/shapes/verdict.js";
import { corpusPath } from "./corpus.js";
import { oneShotSeries } from "./series-helpers.js";

/*
 * A local stand-in for the part of api.github.com the issue reporter uses, with in-memory
 * issues, comments and labels. Every request it receives (route, path and query parameters,
 * body) and every response it sends (status, body) is validated against GitHub's official
 * OpenAPI description (`@octokit/openapi`, converted from OpenAPI 3.0 to JSON Schema by
 * `@openapi-contrib/openapi-schema-to-json-schema` and checked by ajv): a mismatch is recorded
 * in `violations`, which tests assert empty, so the stand-in cannot drift from the real API.
 * It also answers rate limits (primary and secondary) and server errors on demand.
 */

const require = createRequire(import.meta.url);
const addFormats = addFormatsModule.default;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface SpecParameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  schema?: JsonObject;
}

interface SpecOperation {
  operationId: string;
  parameters?: (SpecParameter | { $ref: string })[];
  requestBody?: JsonObject;
  responses: Record<string, JsonObject>;
}

interface Route {
  method: string;
  template: string;
  pattern: RegExp;
  names: string[];
  literalLength: number;
  operation: SpecOperation;
}

/** Statuses GitHub documents for every endpoint (authentication, rate limits, outages). */
const CROSS_CUTTING = new Set([401, 403, 429, 500, 502, 503, 504]);

/** GitHub's OpenAPI description, converted and compiled once per process, lazily. */
class GitHubOpenApi {
  private readonly spec: JsonObject & { paths: Record<string, Record<string, SpecOperation>> };
  private readonly routes: Route[] = [];
  private readonly bodies: Ajv;
  private readonly params: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor() {
    this.spec = require("@octokit/openapi/generated/api.github.com.json");
    const components = this.spec.components as { schemas: Record<string, JsonObject> };
    const schemas: Record<string, Json> = {};
    for (const [name, schema] of Object.entries(components.schemas)) {
      schemas[name] = withoutDraft(fromSchema(schema, { cloneSchema: true }) as JsonObject);
    }
    const make = (coerceTypes: boolean): Ajv => {
      const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, coerceTypes });
      addFormats(ajv);
      // Formats of GitHub's own that JSON Schema does not define.
      ajv.addFormat("repo.nwo", /^[^/]+\/[^/]+$/);
      ajv.addFormat("timestamp", true);
      ajv.addSchema({ components: { schemas } }, "github");
      return ajv;
    };
    this.bodies = make(false);
    this.params = make(true);
    for (const [template, item] of Object.entries(this.spec.paths)) {
      const names: string[] = [];
      const source = template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{(\w+)\}/g, (_, n) => {
        names.push(n as string);
        return "([^/]+)";
      });
      const literalLength = template.replace(/\{\w+\}/g, "").length;
      for (const [method, operation] of Object.entries(item)) {
        if (!["get", "post", "patch", "put", "delete"].includes(method)) continue;
        const pattern = new RegExp(`^${source}$`);
        this.routes.push({ method, template, pattern, names, literalLength, operation });
      }
    }
    // A literal segment wins over a parameter (`/issues/comments` over `/issues/{number}`).
    this.routes.sort((a, b) => b.literalLength - a.literalLength);
  }

  route(
    method: string,
    pathname: string,
  ): { route: Route; path: Record<string, string> } | undefined {
    for (const route of this.routes) {
      if (route.method !== method.toLowerCase()) continue;
      const match = route.pattern.exec(pathname);
      if (!match) continue;
      const path: Record<string, string> = {};
      route.names.forEach((name, i) => (path[name] = decodeURIComponent(match[i + 1] ?? "")));
      return { route, path };
    }
    return undefined;
  }

  /** `#/components/...` followed through the description. */
  private resolve<T>(value: T | { $ref: string }): T {
    let current: unknown = value;
    for (let depth = 0; depth < 10; depth++) {
      const ref = (current as { $ref?: unknown }).$ref;
      if (typeof ref !== "string") return current as T;
      current = ref
        .slice(2)
        .split("/")
        .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], this.spec);
    }
    throw new Error("$ref chain too deep");
  }

  private validator(ajv: Ajv, key: string, schema: () => JsonObject): ValidateFunction {
    const id = `${ajv === this.params ? "p" : "b"}:${key}`;
    let validate = this.compiled.get(id);
    if (!validate) {
      validate = ajv.compile(pointRefsAtGithub(schema()) as object);
      this.compiled.set(id, validate);
    }
    return validate;
  }

  validateRequest(
    route: Route,
    path: Record<string, string>,
    query: URLSearchParams,
    body: Json | undefined,
  ): string[] {
    const problems: string[] = [];
    const where = `${route.method.toUpperCase()} ${route.template}`;
    const parameters = (route.operation.parameters ?? []).map((p) =>
      this.resolve<SpecParameter>(p),
    );
    for (const name of query.keys()) {
      if (!parameters.some((p) => p.in === "query" && p.name === name)) {
        problems.push(`${where}: query parameter "${name}" is not in the description`);
      }
    }
    for (const parameter of parameters) {
      if (parameter.in !== "path" && parameter.in !== "query") continue;
      const value = parameter.in === "path" ? path[parameter.name] : query.get(parameter.name);
      if (value === undefined || value === null) {
        if (parameter.required) problems.push(`${where}: ${parameter.name} is required`);
        continue;
      }
      const validate = this.validator(
        this.params,
        `${route.operation.operationId}:${parameter.in}:${parameter.name}`,
        () => ({
          type: "object",
          properties: {
            value: withoutDraft(fromParameter(parameter as never) as JsonObject),
          },
        }),
      );
      if (!validate({ value })) {
        problems.push(`${where}: ${parameter.name}=${value}: ${describe(validate)}`);
      }
    }
    const requestBody = route.operation.requestBody
      ? this.resolve<JsonObject & { required?: boolean; content?: Record<string, JsonObject> }>(
          route.operation.requestBody,
        )
      : undefined;
    if (body === undefined) {
      if (requestBody?.required) problems.push(`${where}: a request body is required`);
      return problems;
    }
    const schema = requestBody?.content?.["application/json"]?.schema as JsonObject | undefined;
    if (!schema) {
      problems.push(`${where}: the description takes no JSON body`);
      return problems;
    }
    const validate = this.validator(this.bodies, `${route.operation.operationId}:request`, () =>
      withoutDraft(fromSchema(schema, { cloneSchema: true }) as JsonObject),
    );
    if (!validate(body)) problems.push(`${where}: request body: ${describe(validate)}`);
    return problems;
  }

  validateResponse(route: Route, status: number, body: Json | undefined): string[] {
    const where = `${route.method.toUpperCase()} ${route.template} -> ${status}`;
    const declared = route.operation.responses[String(status)];
    let schema: JsonObject | undefined;
    let key: string;
    if (declared) {
      const response = this.resolve<JsonObject & { content?: Record<string, JsonObject> }>(
        declared,
      );
      schema = response.content?.["application/json"]?.schema as JsonObject | undefined;
      key = `${route.operation.operationId}:${status}`;
      if (!schema) {
        return body === undefined ? [] : [`${where}: the description has no body for it`];
      }
    } else if (CROSS_CUTTING.has(status)) {
      schema = { $ref: "#/components/schemas/basic-error" };
      key = "basic-error";
    } else {
      return [`${where}: status not in the description`];
    }
    if (body === undefined) return [`${where}: a JSON body is described, none sent`];
    const validate = this.validator(this.bodies, key, () =>
      withoutDraft(fromSchema(schema, { cloneSchema: true }) as JsonObject),
    );
    return validate(body) ? [] : [`${where}: response body: ${describe(validate)}`];
  }
}

let openApi: GitHubOpenApi | undefined;
function githubOpenApi(): GitHubOpenApi {
  openApi ??= new GitHubOpenApi();
  return openApi;
}

function withoutDraft(schema: JsonObject): JsonObject {
  const { $schema: _, ...rest } = schema;
  return rest;
}

/** Refs of the description point into the schemas added to ajv under `github`. */
function pointRefsAtGithub(value: Json): Json {
  if (Array.isArray(value)) return value.map(pointRefsAtGithub);
  if (value === null || typeof value !== "object") return value;
  const out: JsonObject = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] =
      key === "$ref" && typeof inner === "string" && inner.startsWith("#/components/")
        ? `github${inner}`
        : pointRefsAtGithub(inner);
  }
  return out;
}

function describe(validate: ValidateFunction): string {
  return (validate.errors ?? [])
    .slice(0, 5)
    .map((e) => `${e.instancePath || "/"} ${e.message ?? e.keyword}`)
    .join("; ");
}

/** What the stand-in answers instead of the real response, for the next few requests. */
export type InjectedFailure =
  "primary-403" | "primary-429" | "secondary" | "server-500" | "server-502" | "server-503";

interface StoredIssue {
  number: number;
  id: number;
  title: string;
  body: string;
  state: "open" | "closed";
  stateReason: "completed" | "not_planned" | "reopened" | null;
  labels: string[];
  comments: StoredComment[];
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
}

interface StoredComment {
  id: number;
  body: string;
  createdAt: string;
}

/** One request as the stand-in saw it. */
export interface Exchange {
  method: string;
  path: string;
  operationId: string | null;
  status: number;
  injected: InjectedFailure | null;
}

export interface GitHubStandIn {
  /** The API base URL (`http://127.0.0.1:<port>`). */
  url: string;
  owner: string;
  repo: string;
  token: string;
  /** Everything the description disallows that a request or response did. */
  violations: string[];
  exchanges: Exchange[];
  /** Answer the next `count` requests with this failure instead. */
  failNext(count: number, failure: InjectedFailure): void;
  /** Issues created after this call are not found by search (GitHub's index lags). */
  setSearchLag(lagging: boolean): void;
  issues(): readonly Readonly<StoredIssue>[];
  close(): Promise<void>;
}

const LOGIN = "hypwatch-bot";

export async function startGitHubStandIn(
  options: { owner?: string; repo?: string; token?: string } = {},
): Promise<GitHubStandIn> {
  const owner = options.owner ?? "hypwatch-test";
  const repo = options.repo ?? "reports";
  const token = options.token ?? "ghp_standintoken0000000000000000000000";
  const api = githubOpenApi();
  const violations: string[] = [];
  const exchanges: Exchange[] = [];
  const issues: StoredIssue[] = [];
  const labels = new Map<string, { id: number; name: string }>();
  const unsearchable = new Set<number>();
  const failures: InjectedFailure[] = [];
  let searchLag = false;
  let nextId = 1000;
  let base = "";

  const web = `https://github.com/${owner}/${repo}`;
  const user = {
    login: LOGIN,
    id: 1,
    node_id: "MDQ6VXNlcjE=",
    avatar_url: "https://avatars.githubusercontent.com/u/1?v=4",
    gravatar_id: "",
    url: `https://api.github.com/users/${LOGIN}`,
    html_url: `https://github.com/${LOGIN}`,
    followers_url: `https://api.github.com/users/${LOGIN}/followers`,
    following_url: `https://api.github.com/users/${LOGIN}/following{/other_user}`,
    gists_url: `https://api.github.com/users/${LOGIN}/gists{/gist_id}`,
    starred_url: `https://api.github.com/users/${LOGIN}/starred{/owner}{/repo}`,
    subscriptions_url: `https://api.github.com/users/${LOGIN}/subscriptions`,
    organizations_url: `https://api.github.com/users/${LOGIN}/orgs`,
    repos_url: `https://api.github.com/users/${LOGIN}/repos`,
    events_url: `https://api.github.com/users/${LOGIN}/events{/privacy}`,
    received_events_url: `https://api.github.com/users/${LOGIN}/received_events`,
    type: "Bot",
    site_admin: false,
  };

  const label = (name: string): JsonObject => {
    let stored = labels.get(name);
    if (!stored) {
      // GitHub creates a label the issue names when the caller may push.
      stored = { id: nextId++, name };
      labels.set(name, stored);
    }
    return {
      id: stored.id,
      node_id: `LA_${stored.id}`,
      url: `${base}/repos/${owner}/${repo}/labels/${encodeURIComponent(name)}`,
      name,
      description: null,
      color: "ededed",
      default: false,
    };
  };

  const issueJson = (issue: StoredIssue): JsonObject => {
    const url = `${base}/repos/${owner}/${repo}/issues/${issue.number}`;
    return {
      id: issue.id,
      node_id: `I_${issue.id}`,
      url,
      repository_url: `${base}/repos/${owner}/${repo}`,
      labels_url: `${url}/labels{/name}`,
      comments_url: `${url}/comments`,
      events_url: `${url}/events`,
      html_url: `${web}/issues/${issue.number}`,
      number: issue.number,
      state: issue.state,
      state_reason: issue.stateReason,
      title: issue.title,
      body: issue.body,
      user,
      labels: issue.labels.map(label),
      assignee: null,
      assignees: [],
      milestone: null,
      locked: false,
      active_lock_reason: null,
      comments: issue.comments.length,
      closed_at: issue.closedAt,
      created_at: issue.createdAt,
      updated_at: issue.updatedAt,
      author_association: "NONE",
    };
  };

  const commentJson = (issue: StoredIssue, comment: StoredComment): JsonObject => ({
    id: comment.id,
    node_id: `IC_${comment.id}`,
    url: `${base}/repos/${owner}/${repo}/issues/comments/${comment.id}`,
    html_url: `${web}/issues/${issue.number}#issuecomment-${comment.id}`,
    issue_url: `${base}/repos/${owner}/${repo}/issues/${issue.number}`,
    body: comment.body,
    user,
    created_at: comment.createdAt,
    updated_at: comment.createdAt,
    author_association: "NONE",
  });

  interface Answer {
    status: number;
    body?: Json;
    headers?: Record<string, string>;
  }
  const notFound: Answer = {
    status: 404,
    body: { message: "Not Found", documentation_url: "https://docs.github.com/rest" },
  };

  /** `Link` and one page of `items` as GitHub paginates (`per_page` up to 100). */
  const page = (items: Json[], query: URLSearchParams, pathname: string): Answer => {
    const perPage = Math.min(Number(query.get("per_page") ?? 30) || 30, 100);
    const number = Math.max(Number(query.get("page") ?? 1) || 1, 1);
    const last = Math.max(Math.ceil(items.length / perPage), 1);
    const links: string[] = [];
    const at = (n: number): string => {
      const q = new URLSearchParams(query);
      q.set("page", String(n));
      return `<${base}${pathname}?${q}>`;
    };
    if (number < last) links.push(`${at(number + 1)}; rel="next"`, `${at(last)}; rel="last"`);
    if (number > 1) links.push(`${at(1)}; rel="first"`, `${at(number - 1)}; rel="prev"`);
    return {
      status: 200,
      body: items.slice((number - 1) * perPage, number * perPage),
      headers: links.length > 0 ? { link: links.join(", ") } : {},
    };
  };

  const find = (raw: string | undefined): StoredIssue | undefined =>
    issues.find((i) => String(i.number) === raw);

  const handlers: Record<
    string,
    (path: Record<string, string>, query: URLSearchParams, body: JsonObject, url: URL) => Answer
  > = {
    "issues/create"(_path, _query, body) {
      const now = new Date().toISOString();
      const issue: StoredIssue = {
        number: issues.length + 1,
        id: nextId++,
        title: String(body.title),
        body: typeof body.body === "string" ? body.body : "",
        state: "open",
        stateReason: null,
        labels: labelNames(body.labels),
        comments: [],
        createdAt: now,
        updatedAt: now,
        closedAt: null,
      };
      if (issue.body.length > 65536) return validationFailed("body is too long");
      issues.push(issue);
      if (searchLag) unsearchable.add(issue.number);
      return { status: 201, body: issueJson(issue) };
    },
    "issues/get"(path) {
      const issue = find(path.issue_number);
      return issue ? { status: 200, body: issueJson(issue) } : notFound;
    },
    "issues/update"(path, _query, body) {
      const issue = find(path.issue_number);
      if (!issue) return notFound;
      if (typeof body.body === "string" && body.body.length > 65536) {
        return validationFailed("body is too long");
      }
      if (typeof body.title === "string") issue.title = body.title;
      if (typeof body.body === "string") issue.body = body.body;
      if (Array.isArray(body.labels)) issue.labels = labelNames(body.labels);
      if (body.state === "closed" && issue.state === "open") {
        issue.state = "closed";
        issue.closedAt = new Date().toISOString();
        issue.stateReason = body.state_reason === "not_planned" ? "not_planned" : "completed";
      } else if (body.state === "open" && issue.state === "closed") {
        issue.state = "open";
        issue.closedAt = null;
        issue.stateReason = "reopened";
      }
      issue.updatedAt = new Date().toISOString();
      return { status: 200, body: issueJson(issue) };
    },
    "issues/list-for-repo"(_path, query, _body, url) {
      const state = query.get("state") ?? "open";
      const wanted = (query.get("labels") ?? "").split(",").filter(Boolean);
      let found = issues.filter(
        (i) => (state === "all" || i.state === state) && wanted.every((l) => i.labels.includes(l)),
      );
      const sortKey = query.get("sort") === "updated" ? "updatedAt" : "createdAt";
      found = [...found].sort((a, b) =>
        a[sortKey] === b[sortKey] ? a.number - b.number : a[sortKey] < b[sortKey] ? -1 : 1,
      );
      if ((query.get("direction") ?? "desc") === "desc") found.reverse();
      return page(found.map(issueJson), query, url.pathname);
    },
    "search/issues-and-pull-requests"(_path, query) {
      const q = query.get("q") ?? "";
      const terms = [...q.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? "");
      const words: string[] = [];
      let ok = true;
      const filters: ((i: StoredIssue) => boolean)[] = [];
      for (const term of terms) {
        const qualifier = /^([a-z]+):(.+)$/.exec(term);
        if (!qualifier) {
          words.push(term.toLowerCase());
          continue;
        }
        const [, name, value] = qualifier;
        if (name === "repo") ok &&= value === `${owner}/${repo}`;
        else if (name === "is" && (value === "issue" || value === "open" || value === "closed")) {
          if (value !== "issue") filters.push((i) => i.state === value);
        } else if (name === "label") filters.push((i) => i.labels.includes(value ?? ""));
        else if (name === "in" && (value === "body" || value === "title")) continue;
        else return validationFailed(`unsupported qualifier ${term}`);
      }
      const hits = ok
        ? issues.filter(
            (i) =>
              !unsearchable.has(i.number) &&
              filters.every((f) => f(i)) &&
              words.every((w) => `${i.title}\n${i.body}`.toLowerCase().includes(w)),
          )
        : [];
      return {
        status: 200,
        body: {
          total_count: hits.length,
          incomplete_results: false,
          search_type: "lexical",
          items: hits.map((i) => ({ ...issueJson(i), score: 1 })),
        },
      };
    },
    "issues/list-comments"(path, query, _body, url) {
      const issue = find(path.issue_number);
      if (!issue) return notFound;
      return page(
        issue.comments.map((c) => commentJson(issue, c)),
        query,
        url.pathname,
      );
    },
    "issues/create-comment"(path, _query, body) {
      const issue = find(path.issue_number);
      if (!issue) return notFound;
      const text = String(body.body);
      if (text.length > 65536) return validationFailed("body is too long");
      const comment = { id: nextId++, body: text, createdAt: new Date().toISOString() };
      issue.comments.push(comment);
      issue.updatedAt = comment.createdAt;
      return { status: 201, body: commentJson(issue, comment) };
    },
  };

  const failureAnswer = (failure: InjectedFailure): Answer => {
    const reset = String(Math.ceil(Date.now() / 1000) + 1);
    const limits = {
      "x-ratelimit-limit": "5000",
      "x-ratelimit-remaining": "0",
      "x-ratelimit-used": "5000",
      "x-ratelimit-reset": reset,
      "x-ratelimit-resource": "core",
    };
    switch (failure) {
      case "primary-403":
      case "primary-429":
        return {
          status: failure === "primary-403" ? 403 : 429,
          headers: limits,
          body: {
            message: "API rate limit exceeded for user ID 1.",
            documentation_url: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
          },
        };
      case "secondary":
        return {
          status: 403,
          headers: { "retry-after": "1" },
          body: {
            message:
              "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:000000:000000:00000000.",
            documentation_url:
              "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
          },
        };
      default:
        return {
          status: Number(failure.slice("server-".length)),
          body: { message: "Server Error" },
        };
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", base);
      const method = req.method ?? "GET";
      const where = `${method} ${url.pathname}`;
      const raw = Buffer.concat(chunks).toString("utf8");
      let body: Json | undefined;
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw) as Json;
        } catch {
          violations.push(`${where}: request body is not JSON`);
        }
        if (!/^application\/json\b/.test(req.headers["content-type"] ?? "")) {
          violations.push(`${where}: request body without content-type application/json`);
        }
      }
      const routed = api.route(method, url.pathname);
      const injected = failures.shift() ?? null;
      let answer: Answer;
      if (!routed) {
        violations.push(`${where}: no such endpoint in the description`);
        answer = notFound;
      } else {
        violations.push(...api.validateRequest(routed.route, routed.path, url.searchParams, body));
        const handler = handlers[routed.route.operation.operationId];
        const authorized = req.headers.authorization?.replace(/^(token|bearer) /i, "") === token;
        if (injected) answer = failureAnswer(injected);
        else if (!authorized) {
          answer = {
            status: 401,
            body: {
              message: "Requires authentication",
              documentation_url: "https://docs.github.com/rest",
            },
          };
        } else if (
          !handler ||
          (routed.path.owner !== undefined && routed.path.owner !== owner) ||
          (routed.path.repo !== undefined && routed.path.repo !== repo)
        ) {
          if (!handler) violations.push(`${where}: not implemented by the stand-in`);
          answer = notFound;
        } else {
          answer = handler(routed.path, url.searchParams, (body ?? {}) as JsonObject, url);
        }
        violations.push(...api.validateResponse(routed.route, answer.status, answer.body));
      }
      exchanges.push({
        method,
        path: url.pathname,
        operationId: routed?.route.operation.operationId ?? null,
        status: answer.status,
        injected,
      });
      const headers: Record<string, string> = {
        "x-github-media-type": "github.v3; format=json",
        "x-github-request-id": `STANDIN:${exchanges.length}`,
        ...(injected?.startsWith("primary")
          ? {}
          : {
              "x-ratelimit-limit": "5000",
              "x-ratelimit-remaining": "4999",
              "x-ratelimit-reset": String(Math.ceil(Date.now() / 1000) + 3600),
            }),
        ...answer.headers,
      };
      if (answer.body === undefined) {
        res.writeHead(answer.status, headers).end();
      } else {
        headers["content-type"] = "application/json; charset=utf-8";
        res.writeHead(answer.status, headers).end(JSON.stringify(answer.body));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: base,
    owner,
    repo,
    token,
    violations,
    exchanges,
    failNext(count, failure) {
      for (let i = 0; i < count; i++) failures.push(failure);
    },
    setSearchLag(lagging) {
      searchLag = lagging;
    },
    issues: () => issues,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function labelNames(value: Json | undefined): string[] {
  if (!Array.isArray(value)) return [];
  const names = value.map((l) =>
    typeof l === "string" ? l : String((l as JsonObject | null)?.name ?? ""),
  );
  return [...new Set(names.filter(Boolean))];
}

function validationFailed(message: string): {
  status: number;
  body: Json;
} {
  return {
    status: 422,
    body: {
      message: "Validation Failed",
      errors: [message],
      documentation_url: "https://docs.github.com/rest",
    },
  };
}

/*
 * Report contexts for the issue reporter's tests: the real Shadow Call Stack v7 series from
 * the corpus (and later revisions of it), with findings shaped as the checker attributes them.
 */

/** The real SCS v7 series (11 patches and a cover letter), as the service assembles it. */
export async function scsSeries(): Promise<Series> {
  const mails: RawMail[] = [];
  for await (const raw of readMbox(corpusPath("threads", "scs-v7", "scs-v7-thread.mbox"))) {
    mails.push(raw);
  }
  const { relevant } = await oneShotSeries(mails);
  const series = relevant.find((s) => s.version === 7 && s.total === 11);
  if (!series) throw new Error("the SCS v7 series is not in the corpus thread");
  return series;
}

/**
 * A revision of a series as the assembler links it: same subject and patches, its own id,
 * and the other revisions of `versions` in `revisions` (later ones too, once they exist).
 */
export function revisionOf(
  series: Series,
  version: number,
  versions: readonly number[] = [],
): Series {
  const id = (v: number) => (v === series.version ? series.id : `v${v}-${series.id}`);
  const revisions = [...new Set(versions)]
    .filter((v) => v !== version)
    .sort((a, b) => a - b)
    .map((v) => ({ id: id(v), version: v }));
  if (version === series.version) return { ...series, revisions };
  return {
    ...series,
    id: id(version),
    version,
    coverMessageId: series.coverMessageId ? id(version) : null,
    revisions,
    patches: series.patches.map((p) => ({
      ...p,
      messageId: `v${version}-${p.messageId}`,
      subject: p.subject.replace(/v\d+/, `v${version}`),
    })),
  };
}

/** Findings of the kind the SCS series could introduce in legacy-era hyp code. */
export const SCS_FINDINGS = {
  /** Shadow Call Stack instrumentation let into hyp objects (what patch 9 was about). */
  scs: (introducedBy: number): AttributedFinding => ({
    rule: RULES.instrumentation,
    severity: "error",
    kind: "instrumentation",
    symbol: "shadow-call-stack",
    file: "arch/arm64/kvm/hyp/switch.c",
    line: 612,
    function: "__kvm_vcpu_run_nvhe",
    inlineChain: [],
    config: "instrumented",
    message:
      "hyp code is built with -fsanitize=shadow-call-stack: x18 is used as the shadow stack at EL2",
    key: "hyp/instrumentation:shadow-call-stack:arch/arm64/kvm/hyp/switch.c",
    object: "arch/arm64/kvm/hyp/switch.o",
    section: ".hyp.text",
    flags: ["-fsanitize=shadow-call-stack"],
    makefile: {
      file: "arch/arm64/kvm/hyp/Makefile",
      line: null,
      text: null,
      present: false,
      note: "arch/arm64/kvm/hyp/Makefile does not filter out $(CC_FLAGS_SCS)",
    },
    occurrences: 14,
    introducedBy,
    fixedBy: null,
  }),
  /** A call from hyp code to a kernel function, through an inlined helper. */
  call: (introducedBy: number, symbol = "scs_save"): AttributedFinding => ({
    rule: RULES.legacyCall,
    severity: "error",
    kind: "symbol",
    symbol,
    file: "arch/arm64/include/asm/scs.h",
    line: 28,
    function: "__kvm_vcpu_run_nvhe",
    inlineChain: [
      { function: "scs_task_save", file: "arch/arm64/include/asm/scs.h", line: 28 },
      { function: "__kvm_vcpu_run_nvhe", file: "arch/arm64/kvm/hyp/switch.c", line: 640 },
    ],
    config: "defconfig",
    message: `__kvm_vcpu_run_nvhe calls ${symbol}, which is outside the hyp sections`,
    key: `hyp/legacy-call-outside-hyp:${symbol}:__kvm_vcpu_run_nvhe:arch/arm64/include/asm/scs.h`,
    object: "arch/arm64/kvm/hyp/switch.o",
    section: ".hyp.text",
    introducedBy,
    fixedBy: null,
  }),
  /** A data reference that a later patch of the series removes again. */
  reference: (introducedBy: number, fixedBy: number | null): AttributedFinding => ({
    rule: RULES.legacyReference,
    severity: "warning",
    kind: "symbol",
    symbol: "init_shadow_call_stack",
    file: "arch/arm64/kvm/hyp/entry.S",
    line: 71,
    function: "__guest_enter",
    inlineChain: [],
    config: "defconfig",
    message: "__guest_enter references init_shadow_call_stack, which is outside the hyp sections",
    key: "hyp/legacy-ref-outside-hyp:init_shadow_call_stack:__guest_enter:arch/arm64/kvm/hyp/entry.S",
    introducedBy,
    fixedBy,
  }),
};

/** A check of `series` on linux v5.5 (legacy era), with these findings. */
export function checkOf(series: Series, findings: AttributedFinding[]): CheckResult {
  return {
    tree: {
      path: "https://x-access-token:secret@git.example.org/linux.git",
      era: "legacy",
      baseCommit: "d5226fa6dbae0569ee43ecfc08bdcd6770fc4755",
      baseChosenBy: "candidate",
      attempts: [
        {
          ref: "v5.5",
          source: "candidate",
          commit: "d5226fa6dbae0569ee43ecfc08bdcd6770fc4755",
          outcome: "chosen",
        },
      ],
      baseReused: ["defconfig"],
    },
    series: { subject: series.subject, version: series.version },
    patches: series.patches.map((p) => ({
      index: p.index,
      id: p.messageId,
      subject: p.subject,
      applied: true,
      failure: null,
      changesHypBuild: p.relevant,
    })),
    findings,
    configs: ["defconfig", "instrumented"],
    buildProblems: [],
    timings: { totalMs: 412_000, applyMs: 3_000, buildMs: 400_000, analyzeMs: 9_000 },
  };
}

/** A verdict on `series` and the context a reporter is given for it. */
export function reportedRevision(
  series: Series,
  kind: VerdictKind,
  findings: AttributedFinding[] = [],
  list = "kvmarm",
): ReportedRevision {
  const checkKey = `${list}:${series.id}:${series.version}`;
  return {
    list,
    revision: `${list}:${series.id}`,
    series,
    verdict: {
      checkKey,
      revision: `${list}:${series.id}`,
      list,
      seriesId: series.id,
      subject: series.subject,
      version: series.version,
      partial: false,
      kind,
      reason: kind === "timed-out" ? "series-time bound (7200 s)" : null,
      result: kind === "superseded" ? null : checkOf(series, findings),
      analyzer: "test",
      recordedAt: Date.parse("2020-02-01T00:00:00Z"),
      latencyMs: 600_000,
    },
  };
}

export function contextOf(
  current: ReportedRevision,
  previous: ReportedRevision | null = null,
): ReportContext {
  return { current, previous, posts: new Map() };
}
