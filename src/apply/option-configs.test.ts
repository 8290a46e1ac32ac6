import { describe, expect, it } from "vitest";
import { BUILD_CONFIGS, DEBUG_EDITS } from "./build.js";
import { OPTION_CONFIGS } from "./option-configs.js";

describe("the generated configurations", () => {
  it("are build configurations of their own, with debug info and a reason", () => {
    expect(OPTION_CONFIGS.map((c) => c.name)).toEqual(["hyp-options", "hyp-options-2"]);
    for (const def of OPTION_CONFIGS) {
      const config = BUILD_CONFIGS[def.name];
      expect(config.cc).toBe("gcc");
      expect(config.reason).toBe(def.reason);
      expect(config.edits.slice(0, DEBUG_EDITS.length)).toEqual(DEBUG_EDITS);
      expect(config.verify).toEqual(expect.arrayContaining(["KVM", ...def.verify]));
    }
  });

  it("are each built with clang too, asking for the same options", () => {
    for (const def of OPTION_CONFIGS) {
      const gcc = BUILD_CONFIGS[def.name];
      const clang = BUILD_CONFIGS[`clang-${def.name}`];
      expect(clang.cc).toBe("clang");
      expect(clang.edits).toEqual(gcc.edits);
      expect(clang.verify).toEqual(gcc.verify);
      expect(clang.reason).toContain(def.reason);
    }
  });

  it("verify only what they ask for, and never ask for an option they turn off", () => {
    for (const def of OPTION_CONFIGS) {
      const enable: readonly string[] = def.enable;
      expect(def.verify.filter((o) => !enable.includes(o))).toEqual([]);
      expect(def.disable.filter((o) => enable.includes(o))).toEqual([]);
    }
  });

  it("keep defconfig and the other configurations as they were", () => {
    expect(BUILD_CONFIGS.defconfig.edits).toEqual(DEBUG_EDITS);
    for (const name of [
      "defconfig",
      "instrumented",
      "clang-defconfig",
      "clang-instrumented",
    ] as const)
      expect(BUILD_CONFIGS[name].reason).not.toBe("");
  });
});
