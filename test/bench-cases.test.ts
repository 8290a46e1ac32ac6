import { describe, expect, it } from "vitest";
import type { AttributedFinding } from "../src/check/index.js";
import {
  loadMutationCases,
  MUTATIONS_DIR,
  REAL_BUGS_DIR,
  type ResolvedExpectation,
} from "../bench/mutation-cases.js";
import { judge } from "../bench/mutation-verdict.js";
import type { TruthItem } from "../bench/toolchain-truth.js";

describe("benchmark cases", () => {
  it("every mutation and real-bug case matches the schema", async () => {
    expect((await loadMutationCases(MUTATIONS_DIR)).length).toBeGreaterThan(30);
    expect((await loadMutationCases(REAL_BUGS_DIR)).length).toBeGreaterThan(5);
  });

  it("every real bug names the archive posting it comes from; controls expect nothing", async () => {
    for (const c of await loadMutationCases(REAL_BUGS_DIR)) {
      expect(c.history, c.name).toMatch(/<[^<>@\s]+@[^<>\s]+> \(kvmarm, \d{4}-\d\d-\d\d\)/);
      if (c.name.startsWith("clean-")) expect(c.expect, c.name).toEqual([]);
      else expect(c.expect.length, c.name).toBeGreaterThan(0);
    }
  });
});

describe("judge", () => {
  const expected: ResolvedExpectation = {
    rule: "hyp/undefined-symbol",
    symbol: "kvm_arm_vmid_bits",
    patch: 1,
    fixedBy: null,
    file: "arch/arm64/include/asm/kvm_mmu.h",
    line: 275,
    lineOffset: 0,
    anyLocation: false,
  };
  const truth = new Map<string, TruthItem[]>([
    [
      "defconfig",
      [{ rule: expected.rule, symbol: expected.symbol, introducedBy: 1, fixedBy: null }],
    ],
  ]);
  const finding = (file: string | null, line: number | null): AttributedFinding =>
    ({
      rule: expected.rule,
      symbol: expected.symbol,
      introducedBy: 1,
      fixedBy: null,
      file,
      line,
    }) as AttributedFinding;

  it("found at the expected line, or reported elsewhere", () => {
    expect(judge([expected], [finding(expected.file, 275)], truth)).toBe("found");
    expect(judge([expected], [finding("arch/arm64/kvm/hyp/nvhe/tlb.c", null)], truth)).toBe(
      "wrong place",
    );
  });

  it("missed when not reported, unseen when the toolchain does not show it either", () => {
    expect(judge([expected], [], truth)).toBe("missed");
    expect(judge([expected], [], new Map([["defconfig", []]]))).toBe("unseen");
  });

  it("a control is clean or a false alarm", () => {
    expect(judge([], [], new Map())).toBe("clean");
    expect(judge([], [finding(expected.file, 275)], new Map())).toBe("false alarm");
  });
});
