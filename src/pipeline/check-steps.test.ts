import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkResult } from "../../test/check-result.js";
import { corpusPath } from "../../test/corpus.js";
import { scheduleThread, testPolicy } from "../../test/policy.js";
import { freshStore, type TestStore } from "../../test/state.js";
import { groupByCause, RULES, type AttributedFinding } from "../check/index.js";
import { configSchema } from "../config.js";
import type { CheckResult } from "../shapes/check.js";
import type { Verdict } from "../shapes/verdict.js";
import type { CheckRequest } from "./check.js";
import { checkRevision, checkSteps, stepsDue, transientPart } from "./check-revision.js";
import type { CheckJobData } from "./revisions.js";

const BASE = "b".repeat(40);

/** One undefined-symbol finding of hyp code, brought in by patch `introducedBy`. */
function finding(symbol: string, introducedBy: number, fixedBy: number | null): AttributedFinding {
  return {
    rule: RULES.undefinedSymbol,
    severity: "error",
    kind: "symbol",
    symbol,
    file: "arch/arm64/kvm/hyp/nvhe/switch.c",
    line: 100 + introducedBy,
    function: "__kvm_vcpu_run",
    inlineChain: [],
    config: "defconfig",
    message: `nVHE code references ${symbol}, which hyp code does not define`,
    key: `hyp/undefined-symbol:${symbol}`,
    introducedBy,
    fixedBy,
  };
}

/** A check result of `patches` patches: the final state first (steps between unbuilt) or every step. */
function resultOf(
  patches: number,
  every: boolean,
  findings: AttributedFinding[] = [],
): CheckResult {
  const grouped = groupByCause(findings);
  return checkResult(
    {
      patches: Array.from({ length: patches }, (_, i) => ({
        index: i + 1,
        id: `p${i + 1}`,
        subject: `patch ${i + 1}`,
        applied: true,
        failure: null,
        changesHypBuild: every || i === patches - 1 ? true : null,
      })),
      findings: grouped.findings,
      causes: grouped.causes,
    },
    { baseCommit: BASE },
  );
}

describe("which verdicts leave steps to build", () => {
  const verdict = (kind: Verdict["kind"], result: CheckResult | null) =>
    ({ kind, result }) as Verdict;
  it("a series checked at its ends only, clean or with findings", () => {
    expect(stepsDue(verdict("clean", resultOf(3, false)))).toBe(true);
    expect(stepsDue(verdict("findings", resultOf(3, false)))).toBe(true);
  });
  it("not one whose every step was built, a single patch, or a series that did not apply", () => {
    expect(stepsDue(verdict("findings", resultOf(3, true)))).toBe(false);
    expect(stepsDue(verdict("clean", resultOf(1, false)))).toBe(false);
    const unapplied = checkResult({ patches: resultOf(3, false).patches }, { baseCommit: null });
    expect(stepsDue(verdict("does-not-apply", unapplied))).toBe(false);
    expect(stepsDue(verdict("superseded", null))).toBe(false);
  });
  it("keeps of every step's result only what a later patch removes again", () => {
    const every = resultOf(3, true, [
      finding("kimage_voffset", 2, 3),
      finding("memstart_addr", 3, null),
    ]);
    const transient = transientPart(every);
    expect(transient.findings.map((f) => [f.symbol, f.introducedBy, f.fixedBy])).toEqual([
      ["kimage_voffset", 2, 3],
    ]);
    expect(transient.causes?.map((c) => [c.introducedBy, c.fixedBy])).toEqual([[2, 3]]);
  });
});

describe("building every step after the verdict (real Redis, real mail)", () => {
  let t: TestStore;
  let job: CheckJobData;
  const requests: CheckRequest[] = [];
  /** The stand-in compiler: the final state is clean; patch 2 of 11 breaks, patch 3 fixes. */
  const deps = (steps = [finding("kimage_voffset", 2, 3)]) => ({
    store: t.store,
    config: configSchema.parse({}),
    configs: ["defconfig"] as const,
    analyzer: "test",
    treeFor: async () => ({ repo: "/nonexistent", candidates: ["master"] }),
    check: async (request: CheckRequest) => {
      requests.push(request);
      return request.steps === "every" ? resultOf(11, true, steps) : resultOf(11, false);
    },
  });

  beforeAll(async () => {
    t = await freshStore();
    const jobs = await scheduleThread(
      t.store,
      corpusPath("threads", "scs-v7", "scs-v7-thread.mbox"),
      testPolicy({
        partialWaitMs: 0,
        check: { candidates: ["master"], configs: ["defconfig"], analyzer: "test" },
      }),
    );
    job = jobs[0]!;
  });
  afterAll(() => t.drop());

  it("does nothing before the revision has its verdict", async () => {
    expect(await checkSteps(deps(), job)).toEqual({ steps: null, recorded: false });
    expect(requests).toHaveLength(0);
  });

  it("builds every step on the verdict's base and reports what a later patch removed", async () => {
    const { verdict } = await checkRevision(deps(), job);
    expect(verdict.kind).toBe("clean");
    expect(stepsDue(verdict)).toBe(true);
    const { steps, recorded } = await checkSteps(deps(), job);
    expect(recorded).toBe(true);
    const request = requests.at(-1);
    expect(request).toMatchObject({ steps: "every", base: BASE });
    expect(request?.patches).toHaveLength(11);
    expect(steps).toMatchObject({ kind: "findings", checkKey: job.checkKey, version: 7 });
    expect(steps?.result?.causes?.map((c) => [c.introducedBy, c.fixedBy])).toEqual([[2, 3]]);
    // The verdict stays as it was; the steps verdict has an outbox entry of its own.
    expect((await t.store.verdict(job.checkKey))?.kind).toBe("clean");
    const outbox = await t.store.outbox();
    expect(outbox.map((e) => [e.idempotencyKey, e.steps ?? false])).toEqual([
      [`verdict:${job.checkKey}`, false],
      [`steps:${job.checkKey}`, true],
    ]);
  });

  it("runs once: a job run again builds nothing and reports nothing more", async () => {
    const before = requests.length;
    expect(await checkSteps(deps(), job)).toMatchObject({
      recorded: false,
      steps: { kind: "findings" },
    });
    expect(requests).toHaveLength(before);
    expect(await t.store.outbox()).toHaveLength(2);
  });

  it("stores steps that add nothing without reporting them", async () => {
    const other = { ...job, checkKey: `${job.checkKey}-again` };
    await checkRevision(deps(), other);
    const { steps } = await checkSteps(deps([finding("memstart_addr", 4, null)]), other);
    expect(steps).toMatchObject({ kind: "clean" });
    expect(steps?.result?.findings).toEqual([]);
    expect((await t.store.outbox()).filter((e) => e.steps)).toHaveLength(1);
  });

  it("says the steps were stopped at a bound rather than that they found nothing", async () => {
    const other = { ...job, checkKey: `${job.checkKey}-bounded` };
    await checkRevision(deps(), other);
    const bounded = {
      ...deps([]),
      check: async (request: CheckRequest) => {
        const result = resultOf(11, request.steps === "every");
        if (request.steps !== "every") return result;
        const problem = { config: "defconfig" as const, step: 6, failedTargets: [], logPath: "l" };
        return {
          ...result,
          buildProblems: [{ ...problem, timedOut: true, bound: "series-time" as const }],
        };
      },
    };
    const { steps } = await checkSteps(bounded, other);
    expect(steps).toMatchObject({ kind: "timed-out", reason: "series-time" });
    expect((await t.store.outbox()).filter((e) => e.steps)).toHaveLength(1);
  });

  it("builds nothing for a revision superseded since its verdict", async () => {
    const other = { ...job, checkKey: `${job.checkKey}-superseded` };
    await checkRevision(deps(), other);
    await t.store.markSuperseded([
      { checkKey: other.checkKey, by: { seriesId: "v8@example.org", version: 8 } },
    ]);
    const before = requests.length;
    expect(await checkSteps(deps(), other)).toEqual({ steps: null, recorded: false });
    expect(requests).toHaveLength(before);
  });
});
