import { describe, expect, it } from "vitest";
import { namingFrame } from "./naming-line.js";

/** The line of a one-frame chain that names `symbol`, else the frame's own line. */
const namingLine = (source: string, line: number, symbol: string): number =>
  namingFrame([{ line, source }], symbol)?.line ?? line;

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

// linux 6.1: include/asm-generic/bitops/generic-non-atomic.h, lines 120-129, and
// arch/arm64/include/asm/cpufeature.h, lines 448-452, as an inline chain reaches them.
const GENERIC_TEST_BIT = [
  "static __always_inline bool",
  "generic_test_bit(unsigned long nr, const volatile unsigned long *addr)",
  "{",
  "\t/*",
  "\t * Unlike the bitops with the '__' prefix above, this one *is* atomic,",
  "\t * so `volatile` must always stay here with no cast-aways. See",
  "\t * `Documentation/atomic_bitops.txt` for the details.",
  "\t */",
  "\treturn 1UL & (addr[BIT_WORD(nr)] >> (nr & (BITS_PER_LONG-1)));",
  "}",
].join("\n");
const CPUS_HAVE_CAP = [
  "static __always_inline bool cpus_have_cap(unsigned int num)",
  "{",
  "\tif (num >= ARM64_NCAPS)",
  "\t\treturn false;",
  "\treturn arch_test_bit(num, cpu_hwcaps);",
  "}",
].join("\n");

describe("namingFrame", () => {
  it("goes out of a helper that was handed the address to the caller that names it", () => {
    const chain = [
      { line: 9, source: GENERIC_TEST_BIT },
      { line: 5, source: CPUS_HAVE_CAP },
    ];
    expect(namingFrame(chain, "cpu_hwcaps")).toEqual({ index: 1, line: 5 });
  });

  it("keeps the innermost frame when it names the symbol, and finds none when no frame does", () => {
    const chain = [
      { line: 10, source: HYP_SMP },
      { line: 5, source: CPUS_HAVE_CAP },
    ];
    expect(namingFrame(chain, "kvm_arm_hyp_percpu_base")).toEqual({ index: 0, line: 9 });
    expect(namingFrame(chain, "gic_nonsecure_priorities")).toBeNull();
  });

  it("skips frames whose source cannot be read or that have no line", () => {
    const chain = [
      { line: 9, source: null },
      { line: null, source: CPUS_HAVE_CAP },
      { line: 5, source: CPUS_HAVE_CAP },
    ];
    expect(namingFrame(chain, "cpu_hwcaps")).toEqual({ index: 2, line: 5 });
  });
});
