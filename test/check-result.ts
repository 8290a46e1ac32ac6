import type { CheckResult } from "../src/shapes/check.js";

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
