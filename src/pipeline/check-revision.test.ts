import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusPath } from "../../test/corpus.js";
import { scheduleThread, testPolicy } from "../../test/policy.js";
import { checkResult } from "../../test/check-result.js";
import { freshStore, type TestStore } from "../../test/state.js";
import { configSchema } from "../config.js";
import type { CheckRequest } from "./check.js";
import { checkRevision, classifyResult, RevisionMissingError } from "./check-revision.js";
import type { CheckJobData } from "./revisions.js";

const result = checkResult;

describe("the verdict of a check result", () => {
  it("names why there are no findings", () => {
    expect(classifyResult(result()).kind).toBe("clean");
    const attempt = { ref: "HEAD", source: "head" as const, commit: "b".repeat(40) };
    expect(
      classifyResult(
        result(
          {},
          {
            baseCommit: null,
            attempts: [
              {
                ...attempt,
                outcome: "does-not-apply",
                failure: { patchId: "p", kind: "already-applied" },
              },
            ],
          },
        ),
      ).kind,
    ).toBe("already-applied");
    expect(
      classifyResult(
        result(
          {},
          {
            baseCommit: null,
            attempts: [
              {
                ...attempt,
                outcome: "does-not-apply",
                failure: { patchId: "p", kind: "context-mismatch" },
              },
            ],
          },
        ),
      ),
    ).toEqual({ kind: "does-not-apply", reason: "context-mismatch" });
    expect(
      classifyResult(
        result(
          {},
          { baseCommit: null, attempts: [{ ...attempt, commit: null, outcome: "missing" }] },
        ),
      ).kind,
    ).toBe("no-base");
    const problem = { config: "defconfig" as const, step: 2, failedTargets: [], logPath: "l" };
    expect(
      classifyResult(result({ buildProblems: [{ ...problem, timedOut: false, bound: "memory" }] })),
    ).toEqual({
      kind: "timed-out",
      reason: "memory",
    });
    expect(
      classifyResult(result({ buildProblems: [{ ...problem, timedOut: false, bound: null }] }))
        .kind,
    ).toBe("build-failed");
  });
});

describe("checking a stored revision (real Redis, real mail)", () => {
  let t: TestStore;
  let job: CheckJobData;
  const requests: CheckRequest[] = [];
  const deps = () => ({
    store: t.store,
    config: configSchema.parse({}),
    configs: ["defconfig", "instrumented"] as const,
    analyzer: "test",
    treeFor: async () => ({ repo: "/nonexistent", candidates: ["next", "master"] }),
    check: async (request: CheckRequest) => {
      requests.push(request);
      return result();
    },
  });

  beforeAll(async () => {
    t = await freshStore();
    const jobs = await scheduleThread(
      t.store,
      corpusPath("threads", "scs-v7", "scs-v7-thread.mbox"),
      testPolicy({
        partialWaitMs: 0,
        check: {
          candidates: ["next", "master"],
          configs: ["defconfig", "instrumented"],
          analyzer: "test",
        },
      }),
    );
    expect(jobs).toHaveLength(1);
    job = jobs[0]!;
  });
  afterAll(() => t.drop());

  it("checks the patches from the store, in order, on the list's tree and candidates", async () => {
    const { verdict, recorded } = await checkRevision(deps(), job);
    expect(recorded).toBe(true);
    expect(verdict).toMatchObject({ kind: "clean", version: 7, partial: false, list: "kvmarm" });
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request?.patches).toHaveLength(11);
    expect(request?.candidates).toEqual(["next", "master"]);
    expect(request?.configs).toEqual(["defconfig", "instrumented"]);
    const first = request?.patches[0];
    expect(Buffer.from(first?.mail ?? "").equals((await t.store.rawMail(first?.id ?? ""))!)).toBe(
      true,
    );
    expect(first?.subject).toMatch(/^\[PATCH v7 01\/11\]/);
  });

  it("does nothing more when the job runs again: one verdict, one outbox entry", async () => {
    const again = await checkRevision(deps(), job);
    expect(again).toMatchObject({ recorded: false, verdict: { kind: "clean" } });
    expect(requests).toHaveLength(1);
    expect(await t.store.outbox()).toHaveLength(1);
    expect(await t.store.runs()).toEqual({ [job.checkKey]: "1" });
  });

  it("stores a superseded check without reporting it, naming what superseded it", async () => {
    await t.store.markSuperseded([
      { checkKey: "other", by: { seriesId: "v2@example.org", version: 2 } },
    ]);
    const { verdict } = await checkRevision(deps(), { ...job, checkKey: "other" });
    expect(verdict).toMatchObject({
      kind: "superseded",
      reason: "superseded by <v2@example.org> v2",
      result: null,
    });
    expect(requests).toHaveLength(1);
    expect((await t.store.outbox()).map((e) => e.checkKey)).toEqual([job.checkKey]);
  });

  it("fails for good, naming it, on a revision that was never stored", async () => {
    const error = await checkRevision(deps(), { checkKey: "x", revision: "missing" }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RevisionMissingError);
    expect(String(error)).toMatch(/revision missing is not in the store/);
  });
});
