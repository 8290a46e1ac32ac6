import { describe, expect, it } from "vitest";
import { attributeFindings, bisectStep, diffFindings, findingKeys } from "./diff.js";
import { RULES, type Finding } from "./types.js";

function draft(
  symbol: string,
  fn: string,
  line: number,
  file = "arch/arm64/kvm/hyp/nvhe/hyp-main.c",
) {
  return {
    rule: RULES.undefinedSymbol,
    severity: "error" as const,
    kind: "symbol" as const,
    symbol,
    file,
    line,
    function: fn,
    inlineChain: [],
    config: "defconfig",
    message: `${fn} references ${symbol}`,
  };
}

const one = (symbol: string, fn: string, line: number): Finding =>
  findingKeys([draft(symbol, fn, line)])[0] as Finding;

describe("findingKeys", () => {
  it("leaves line numbers out of the key", () => {
    expect(one("kfree", "handle_trap", 43).key).toBe(one("kfree", "handle_trap", 90).key);
    expect(one("kfree", "handle_trap", 43).key).not.toBe(one("kfree", "handle_host_smc", 43).key);
  });

  it("numbers further findings sharing a key in line order", () => {
    const keys = findingKeys([
      draft("kfree", "f", 50),
      draft("kfree", "f", 40),
      draft("vfree", "f", 45),
    ]);
    expect(keys.map((k) => k.key)).toEqual([
      "hyp/undefined-symbol|kfree|f|arch/arm64/kvm/hyp/nvhe/hyp-main.c#2",
      "hyp/undefined-symbol|kfree|f|arch/arm64/kvm/hyp/nvhe/hyp-main.c",
      "hyp/undefined-symbol|vfree|f|arch/arm64/kvm/hyp/nvhe/hyp-main.c",
    ]);
  });
});

describe("diffFindings", () => {
  it("reports introduced and removed findings by key, ignoring moved lines", () => {
    const before = [one("kfree", "a", 10), one("vfree", "b", 20)];
    const after = [one("kfree", "a", 14), one("schedule", "c", 30)];
    const diff = diffFindings(before, after);
    expect(diff.introduced.map((f) => f.symbol)).toEqual(["schedule"]);
    expect(diff.removed.map((f) => f.symbol)).toEqual(["vfree"]);
  });
});

describe("attributeFindings", () => {
  it("attributes each new finding to the patch that introduced it and the one that fixed it", () => {
    const base = [one("old", "x", 1)];
    const steps = [
      base,
      [one("old", "x", 1), one("kfree", "a", 10)],
      [one("old", "x", 1), one("kfree", "a", 12), one("schedule", "b", 5)],
      [one("old", "x", 1), one("schedule", "b", 5)],
    ];
    const attributed = attributeFindings(steps);
    expect(attributed.map((f) => [f.symbol, f.introducedBy, f.fixedBy])).toEqual([
      ["kfree", 1, 3],
      ["schedule", 2, null],
    ]);
  });

  it("does not report what the base already had, even when a patch fixes it", () => {
    const base = [one("old", "x", 1)];
    expect(attributeFindings([base, [], [one("old", "x", 1)]])).toEqual([]);
  });

  it("reports a finding again when it comes back after a fix", () => {
    const f = one("kfree", "a", 10);
    const attributed = attributeFindings([[], [f], [], [f]]);
    expect(attributed.map((x) => [x.introducedBy, x.fixedBy])).toEqual([
      [1, 2],
      [3, null],
    ]);
  });
});

describe("bisectStep", () => {
  /** Drive a bisection over `truth` (what each step has) and list the steps it builds. */
  function bisect(truth: readonly string[][]): number[] {
    const final = truth.length - 1;
    const built = new Set([0, final]);
    const order: number[] = [];
    const has = (step: number) => {
      if (!built.has(step)) throw new Error(`step ${step} read before it was built`);
      return new Set(truth[step]);
    };
    for (let next = bisectStep(built, final, has); next !== null;) {
      order.push(next);
      built.add(next);
      next = bisectStep(built, final, has);
    }
    return order;
  }

  it("pins a finding brought in by patch 2 of 7 in three builds, not six", () => {
    const truth = [[], [], ["kfree"], ["kfree"], ["kfree"], ["kfree"], ["kfree"], ["kfree"]];
    expect(bisect(truth)).toEqual([3, 1, 2]);
  });

  it("pins each of two findings to its own patch, and builds nothing for one patch", () => {
    const truth = [["old"], ["old"], ["old", "a"], ["old", "a"], ["old", "a", "b"]];
    expect(bisect(truth)).toEqual([2, 1, 3]);
    expect(bisect([[], ["a"]])).toEqual([]);
  });

  it("asks for nothing when the final state has nothing the base has not", () => {
    expect(bisect([["old"], ["old", "gone"], ["old"]])).toEqual([]);
  });

  it("takes a failed build like a finding", () => {
    const truth = [[], [], [], ["defconfig|build failed"], ["defconfig|build failed"]];
    expect(bisect(truth)).toEqual([2, 3]);
  });
});
