import { describe, expect, it } from "vitest";
import { namingLine } from "./naming-line.js";

// linux 6.1, arch/arm64/kvm/hyp/nvhe/hyp-smp.c, lines 26-38.
const HYP_SMP = [
  "unsigned long __hyp_per_cpu_offset(unsigned int cpu)",
  "{",
  "\tunsigned long *cpu_base_array;",
  "\tunsigned long this_cpu_base;",
  "\tunsigned long elf_base;",
  "",
  "\tBUG_ON(cpu >= ARRAY_SIZE(kvm_arm_hyp_percpu_base));",
  "",
  "\tcpu_base_array = (unsigned long *)&kvm_arm_hyp_percpu_base;",
  "\tthis_cpu_base = kern_hyp_va(cpu_base_array[cpu]);",
  "\telf_base = (unsigned long)&__per_cpu_start;",
  "\treturn this_cpu_base - elf_base;",
  "}",
].join("\n");

describe("namingLine", () => {
  it("moves a reference the line table puts at its use to the line naming the symbol", () => {
    // gcc 12's debug information gives the address of kvm_arm_hyp_percpu_base line 10 here.
    expect(namingLine(HYP_SMP, 10, "kvm_arm_hyp_percpu_base")).toBe(9);
  });

  it("keeps a line that names it, and one whose name a macro hides", () => {
    expect(namingLine(HYP_SMP, 11, "__per_cpu_start")).toBe(11);
    expect(
      namingLine("\tif (x)\n\t\tgic_write_pmr(GIC_PRIO_IRQOFF);\n", 2, "gic_nonsecure_priorities"),
    ).toBe(2);
  });

  it("does not look past the start of the function, nor match a longer name", () => {
    expect(namingLine("\ta();\n}\n{\n\tb();\n", 4, "a")).toBe(4);
    expect(namingLine("x = foo_bar;\ny = z;\n", 2, "foo")).toBe(2);
    expect(namingLine("{\n\tx = 1;\n", 2, "anything")).toBe(2);
  });
});
