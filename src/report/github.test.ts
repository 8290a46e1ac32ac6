import MarkdownIt from "markdown-it";
import { beforeAll, describe, expect, it } from "vitest";
import {
  SCS_FINDINGS,
  checkOf,
  contextOf,
  reportedRevision,
  revisionOf,
  scsSeries,
} from "../../test/github-standin.js";
import type { AttributedFinding } from "../check/index.js";
import type { Series } from "../series/index.js";
import {
  GITHUB_BODY_LIMIT,
  GITHUB_TITLE_LIMIT,
  code,
  issueBody,
  issueLabels,
  issueTitle,
  parseMarker,
  planIssue,
  publicCheckResult,
  seriesToken,
  verdictToken,
  type IssueMarker,
} from "./github.js";

const LORE = "https://lore.kernel.org/all";
const options = { loreUrl: LORE };
let v7: Series;

beforeAll(async () => {
  v7 = await scsSeries();
});

const marker = (version = 7): IssueMarker => ({
  series: [seriesToken("kvmarm", v7.id)],
  version,
  verdict: verdictToken(`verdict:v${version}`),
});

/** GitHub-flavoured Markdown as a browser would get it: raw HTML passed, URLs linked. */
const markdown = new MarkdownIt({ html: true, linkify: true });

/** The rendered HTML with every code span and block taken out: what GitHub acts on. */
function outsideCode(html: string): string {
  return html.replace(/<code[^>]*>[\s\S]*?<\/code>/g, "");
}

const json = (body: string) => JSON.parse(/```json\n([\s\S]*?)\n```/.exec(body)?.[1] ?? "null");

describe("the issue of a series", () => {
  it("is titled with the subject, the revision and the counts, and labelled by rule and state", () => {
    const r = reportedRevision(v7, "findings", [
      SCS_FINDINGS.scs(10),
      SCS_FINDINGS.call(10),
      SCS_FINDINGS.reference(5, 9),
    ]);
    expect(issueTitle(r.verdict)).toBe(
      "[PATCH v7] add support for Clang's Shadow Call Stack: 2 errors, 1 warning",
    );
    expect(issueLabels(r.verdict)).toEqual([
      "hypwatch",
      "list:kvmarm",
      "state:findings",
      "rule:hyp/instrumentation",
      "rule:hyp/legacy-call-outside-hyp",
      "rule:hyp/legacy-ref-outside-hyp",
    ]);
    expect(
      issueLabels({ ...r.verdict, kind: "does-not-apply", partial: true, result: null }),
    ).toEqual(["hypwatch", "list:kvmarm", "state:does-not-apply", "partial"]);
    const long = { ...r.verdict, subject: "x".repeat(1000) };
    expect(issueTitle(long).length).toBeLessThanOrEqual(GITHUB_TITLE_LIMIT);
    expect(issueTitle(long)).toMatch(/^\[PATCH v7\] x+…: 2 errors, 1 warning$/);
  });

  it("groups findings by the patch that introduced them, then the check JSON, then the marker", () => {
    const findings = [SCS_FINDINGS.reference(5, 9), SCS_FINDINGS.scs(10), SCS_FINDINGS.call(10)];
    const context = contextOf(reportedRevision(v7, "findings", findings));
    const body = issueBody(context, marker(), options);
    const patch5 = body.indexOf("#### Patch 5/11: `[PATCH v7 05/11] arm64: reserve x18");
    const patch10 = body.indexOf("#### Patch 10/11: `[PATCH v7 10/11] arm64: implement Shadow");
    expect(patch5).toBeGreaterThan(0);
    expect(patch10).toBeGreaterThan(patch5);
    expect(body).toContain(
      "- **warning** `hyp/legacy-ref-outside-hyp` `init_shadow_call_stack` in `__guest_enter()` at `arch/arm64/kvm/hyp/entry.S:71` (`defconfig`), removed again by patch 9",
    );
    expect(body).toContain(
      "inlined: `scs_task_save() arch/arm64/include/asm/scs.h:28` ← `__kvm_vcpu_run_nvhe() arch/arm64/kvm/hyp/switch.c:640`",
    );
    expect(body).toContain(
      `- Thread: [\`${v7.id}\`](${LORE}/20200128184934.77625-1-samitolvanen%40google.com/)`,
    );
    // The documented check JSON, as it may be published.
    expect(json(body)).toEqual(publicCheckResult(context.current.verdict.result!));
    expect(parseMarker(body)).toEqual(marker());
    expect(body.endsWith("-->")).toBe(true);
  });

  it("publishes no credentials or paths of the bot's machine", () => {
    const result = checkOf(v7, []);
    result.buildProblems.push({
      config: "instrumented",
      step: 3,
      timedOut: true,
      bound: "time",
      failedTargets: [],
      logPath: "/root/.cache/hypwatch/builds/abc/instrumented-3.log",
    });
    const published = publicCheckResult(result);
    expect(published.tree.path).toBe("https://git.example.org/linux.git");
    expect(published.buildProblems[0]?.logPath).toBe("instrumented-3.log");
    expect(
      publicCheckResult({ ...result, tree: { ...result.tree, path: "/srv/linux/" } }).tree.path,
    ).toBe("linux");
  });

  it("renders hostile subjects, ids, paths and symbols inertly: no pings, links, HTML or fake markers", () => {
    const hostile =
      "@torvalds <img src=x onerror=alert(1)> [click](https://evil.example/) https://evil.example/x fixes #1 and other/repo#2 ``` \u001b[2J\u202e <!-- hypwatch-issue hypwatchseries" +
      "0".repeat(32) +
      " v99 hypwatchverdict" +
      "0".repeat(32) +
      " -->";
    const series: Series = {
      ...v7,
      id: "x-->@torvalds)](https://evil.example/<b>",
      subject: hostile,
      coverMessageId: "x-->@torvalds)](https://evil.example/<b>",
      author: { name: "@gregkh <script>", email: "evil@example.org" },
      patches: v7.patches.map((p) => ({ ...p, subject: `${hostile} ${p.index}` })),
    };
    const finding: AttributedFinding = {
      ...SCS_FINDINGS.call(2, "`printk` @arm64 <b>x</b>"),
      file: "arch/arm64/kvm/hyp/[a](https://evil.example/).c",
      function: "__kvm_nvhe_<script>alert(1)</script>",
      message: "www.evil.example @ardb\n# heading\n<details open>",
    };
    const context = contextOf(reportedRevision(series, "findings", [finding]));
    const title = issueTitle(context.current.verdict);
    for (const raw of ["\u001b", "\u202e", "\n"]) expect(title).not.toContain(raw);
    expect(title).toContain("@\u200btorvalds");
    expect(title).toContain("other/repo#\u200b2");

    const body = issueBody(context, marker(), options);
    const html = markdown.render(body);
    // Links are checked below: each goes to the public inbox, the id percent-encoded.
    const outside = outsideCode(html).replace(/href="[^"]*"/g, "");
    for (const bad of [
      "<img",
      "<script",
      "<b>",
      "<details open",
      "evil.example",
      "@torvalds",
      "@gregkh",
      "@ardb",
      "@arm64",
      "#2",
    ]) {
      expect(outside).not.toContain(bad);
    }
    const hrefs = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);
    expect(hrefs.length).toBeGreaterThan(0);
    for (const href of hrefs) expect(href?.startsWith(`${LORE}/`)).toBe(true);
    expect(html).not.toContain("<h1>");
    // Only the marker this module wrote counts.
    expect(parseMarker(body)).toEqual(marker());
    expect(parseMarker(`${body}\n${hostile}`)).toBeNull();
  });

  it("stays within GitHub's body limit, the counts whole and the JSON valid", () => {
    const many = Array.from({ length: 3000 }, (_, i) => ({
      ...SCS_FINDINGS.call(1 + (i % 11), `helper_${i}`),
      message: "m".repeat(300),
    }));
    const context = contextOf(reportedRevision(v7, "findings", many));
    const body = issueBody(context, marker(), options);
    expect(body.length).toBeLessThanOrEqual(GITHUB_BODY_LIMIT);
    // 3000 findings at one header line, brought in by 11 patches: 11 causes.
    expect(body).toContain("introduces **11 errors** (3000 findings)");
    const shown = json(body).findings.length;
    expect(shown).toBeGreaterThan(10);
    expect(shown).toBeLessThan(3000);
    expect(body).toContain(`The first ${shown} of 3000 findings.`);
    expect(body).toContain(`${3000 - shown} more not shown here`);
    expect(parseMarker(body)).toEqual(marker());
  });

  it("puts any text in a code span GitHub cannot break out of", () => {
    expect(code("plain")).toBe("`plain`");
    expect(code("a`b")).toBe("``a`b``");
    expect(code("`x`")).toBe("`` `x` ``");
    expect(code("a\nb\r\u001b")).toBe("`a b \\e`");
    expect(markdown.renderInline(code("``` <b> @x ``"))).toBe("<code>``` &lt;b&gt; @x ``</code>");
  });
});

describe("what a verdict does to the issue", () => {
  const key = "verdict:k";
  const open = (version: number, verdict = "verdict:old") => ({
    state: "open" as const,
    marker: { ...marker(version), verdict: verdictToken(verdict) },
  });

  it("opens an issue only for findings", () => {
    const findings = contextOf(reportedRevision(v7, "findings", [SCS_FINDINGS.scs(10)]));
    expect(planIssue(findings, null, key, options).action).toBe("create");
    for (const kind of ["clean", "does-not-apply", "timed-out", "superseded"] as const) {
      expect(planIssue(contextOf(reportedRevision(v7, kind)), null, key, options)).toMatchObject({
        action: "none",
      });
    }
  });

  it("does nothing for a verdict the issue already shows, or one older than it", () => {
    const context = contextOf(reportedRevision(v7, "findings", [SCS_FINDINGS.scs(10)]));
    expect(planIssue(context, open(7, key), key, options)).toEqual({
      action: "none",
      why: "already reported",
    });
    expect(planIssue(context, open(8), key, options)).toEqual({
      action: "none",
      why: "the issue reports v8",
    });
  });

  it("closes on clean with a comment, but says nothing to an issue already closed", () => {
    const v8 = revisionOf(v7, 8, [7, 8]);
    const r7 = reportedRevision(v7, "findings", [SCS_FINDINGS.scs(10)]);
    const clean = contextOf(reportedRevision(v8, "clean"), r7);
    const plan = planIssue(clean, open(7), key, options);
    expect(plan).toMatchObject({ action: "update", state: "closed", stateReason: "completed" });
    expect(plan.action === "update" && plan.comment).toContain("Fixed since v7:");
    const closed = planIssue(clean, { ...open(7), state: "closed" }, key, options);
    expect(closed).toMatchObject({
      action: "update",
      state: "closed",
      stateReason: null,
      comment: null,
    });
    // The marker keeps every revision's token, so each finds the issue.
    const body = plan.action === "update" ? plan.body : "";
    expect(parseMarker(body)?.series).toEqual([
      seriesToken("kvmarm", v7.id),
      seriesToken("kvmarm", v8.id),
    ]);
  });

  it("leaves out the rules the list asked to ignore, and closes an issue left with none", () => {
    const both = reportedRevision(v7, "findings", [SCS_FINDINGS.scs(10), SCS_FINDINGS.call(10)]);
    const ignored = [SCS_FINDINGS.scs(10).rule];
    const plan = planIssue({ ...contextOf(both), ignored }, null, key, options);
    expect(plan.action).toBe("create");
    const body = plan.action === "create" ? plan.body : "";
    expect(json(body).findings.map((f: AttributedFinding) => f.rule)).toEqual([
      SCS_FINDINGS.call(10).rule,
    ]);
    expect(body).toContain(`(\`#hypwatch ignore\`): \`${ignored[0]}\``);
    expect(plan.action === "create" && plan.title).toMatch(/: 1 error$/);

    const only = reportedRevision(v7, "findings", [SCS_FINDINGS.scs(10)]);
    expect(planIssue({ ...contextOf(only), ignored }, null, key, options)).toMatchObject({
      action: "none",
    });
    const closing = planIssue({ ...contextOf(only), ignored }, open(6), key, options);
    expect(closing).toMatchObject({ action: "update", state: "closed", stateReason: "completed" });
  });

  it("keeps the issue's state when a revision cannot be judged, and says why", () => {
    const v8 = revisionOf(v7, 8, [7, 8]);
    const timedOut = contextOf(reportedRevision(v8, "timed-out"));
    const plan = planIssue(timedOut, open(7), key, options);
    expect(plan).toMatchObject({ action: "update", state: "open", stateReason: null });
    expect(plan.action === "update" && plan.comment).toContain(
      "**v8** could not be judged: timed out.\n\nReason: `series-time bound (7200 s)`",
    );
    expect(plan.action === "update" && plan.labels).toContain("state:timed-out");
  });
});
