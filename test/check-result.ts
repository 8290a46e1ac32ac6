import { configSchema } from "../src/config.js";
import { checkRevision, type CheckedRevision } from "../src/pipeline/check-revision.js";
import type { CheckJobData } from "../src/pipeline/revisions.js";
import type { CheckResult } from "../src/shapes/check.js";
import type { StateStore } from "../src/state/store.js";

/** A clean check result on a modern tree, with what a test changes laid over it. */
export function checkResult(
  overrides: Partial<CheckResult> = {},
  tree: Partial<CheckResult["tree"]> = {},
): CheckResult {
  return {
    tree: {
      path: "/t",
      era: "modern",
      baseCommit: "a".repeat(40),
      baseChosenBy: "head",
      attempts: [],
      baseReused: [],
      ...tree,
    },
    series: null,
    patches: [],
    findings: [],
    configs: ["defconfig"],
    buildProblems: [],
    timings: { totalMs: 0, applyMs: 0, buildMs: 0, analyzeMs: 0 },
    ...overrides,
  };
}

/**
 * `checkRevision` with the compiler stood in for: every check is clean, on a tree at `repo`
 * that is never read.
 */
export function cleanCheckRevision(
  store: StateStore,
  repo = "/t",
): (job: CheckJobData) => Promise<CheckedRevision> {
  return (job) =>
    checkRevision(
      {
        store,
        config: configSchema.parse({}),
        configs: ["defconfig"],
        analyzer: "test",
        treeFor: async () => ({ repo, candidates: [] }),
        check: async () => checkResult(),
      },
      job,
    );
}
