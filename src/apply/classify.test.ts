import { describe, expect, it } from "vitest";
import { classifyAmFailure } from "./classify.js";

// The messages are git 2.39's, as `git am -3` and `git apply --check` print them.
describe("classifyAmFailure", () => {
  it("prefers the plain check's missing file over three-way's lack of blob information", () => {
    expect(
      classifyAmFailure({
        amOutput: "error: sha1 information is lacking or useless (virt/kvm/arm/pmu.c).",
        checkOutput: "error: virt/kvm/arm/pmu.c: does not exist in index",
        reverseApplies: false,
      }),
    ).toEqual({ kind: "missing-file", paths: ["virt/kvm/arm/pmu.c"] });
  });

  it("calls a modify/delete conflict a missing file", () => {
    expect(
      classifyAmFailure({
        amOutput: "CONFLICT (modify/delete): f.c deleted in HEAD and modified in p1.",
        checkOutput: "",
        reverseApplies: false,
      }).kind,
    ).toBe("missing-file");
  });

  it("calls a patch that reverse-applies already applied", () => {
    expect(
      classifyAmFailure({
        amOutput: "error: patch failed: a.c:3",
        checkOutput: "error: patch failed: a.c:3",
        reverseApplies: true,
      }).kind,
    ).toBe("already-applied");
  });

  it("falls back to unknown for messages it does not know", () => {
    expect(
      classifyAmFailure({
        amOutput: "fatal: unable to write new index file",
        checkOutput: "",
        reverseApplies: false,
      }),
    ).toEqual({ kind: "unknown", paths: [] });
  });
});
