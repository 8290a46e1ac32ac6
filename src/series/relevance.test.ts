import { describe, expect, it } from "vitest";
import { DEFAULT_RELEVANT_PATTERNS, isRelevant } from "./relevance.js";

describe("isRelevant", () => {
  it.each([
    "arch/arm64/kvm/hyp/nvhe/switch.c",
    "arch/arm64/kvm/Makefile",
    "arch/arm64/include/asm/kvm_host.h",
    "arch/arm64/kernel/image-vars.h",
    "virt/kvm/arm/pmu.c",
    "include/kvm/arm_vgic.h",
    "arch/arm/kvm/Kconfig",
  ])("watches %s by default", (path) => {
    expect(isRelevant(path)).toBe(true);
  });

  it.each([
    "arch/arm64/kernel/entry.S",
    "arch/arm64/include/asm/kvm/other.h",
    "arch/arm64/include/asm/sysreg.h",
    "arch/x86/kvm/x86.c",
    "virt/kvm/kvm_main.c",
    "arch/arm64/kernel/image-vars.h.orig",
    "xarch/arm64/kvm/arm.c",
  ])("ignores %s by default", (path) => {
    expect(isRelevant(path)).toBe(false);
  });

  it("takes configured patterns, with * inside a component and ** across", () => {
    const patterns = ["arch/riscv/kvm/", "include/**/kvm_*.h"];
    expect(isRelevant("arch/riscv/kvm/main.c", patterns)).toBe(true);
    expect(isRelevant("include/linux/kvm_host.h", patterns)).toBe(true);
    expect(isRelevant("arch/arm64/kvm/arm.c", patterns)).toBe(false);
    expect(DEFAULT_RELEVANT_PATTERNS).toContain("virt/kvm/arm/");
  });
});
