import { describe, expect, it } from "vitest";
import { parseRelocations, parseSectionHeaders, type Relocation } from "./elf.js";
import { beyondMachinery, codePlaceOf } from "./tables.js";

// `readelf -W -S` and `readelf -W -r` of linux 6.1's nvhe/switch.nvhe.o (defconfig, gcc 12),
// cut to the sections and entries used here.
const SECTIONS = parseSectionHeaders(`
  [Nr] Name              Type            Address          Off    Size   ES Flg Lk Inf Al
  [ 1] .text             PROGBITS        0000000000000000 000040 000f44 00  AX  0   0 16
  [ 5] .altinstructions  PROGBITS        0000000000000000 000f84 000420 00   A  0   0  1
  [12] __jump_table      PROGBITS        0000000000000000 001530 0000a0 00  WA  0   0  8
`);
const RELOCATIONS = parseRelocations(`
Relocation section '.rela__jump_table' at offset 0x2d0b8 contains 30 entries:
    Offset             Info             Type               Symbol's Value  Symbol's Name + Addend
0000000000000000  0000000200000105 R_AARCH64_PREL32       0000000000000000 .text + 1b0
0000000000000004  0000000200000105 R_AARCH64_PREL32       0000000000000000 .text + 1bc
0000000000000008  0000003100000104 R_AARCH64_PREL64       0000000000000000 vgic_v2_cpuif_trap + 0
0000000000000010  0000000200000105 R_AARCH64_PREL32       0000000000000000 .text + 220
0000000000000014  0000000200000105 R_AARCH64_PREL32       0000000000000000 .text + 22c
0000000000000018  0000003300000104 R_AARCH64_PREL64       0000000000000000 vgic_v3_cpuif_trap + 0

Relocation section '.rela.altinstructions' at offset 0x2be88 contains 176 entries:
    Offset             Info             Type               Symbol's Value  Symbol's Name + Addend
0000000000000000  0000000200000105 R_AARCH64_PREL32       0000000000000000 .text + 4
0000000000000004  0000000200000105 R_AARCH64_PREL32       0000000000000000 .text + e50
000000000000000c  0000000200000105 R_AARCH64_PREL32       0000000000000000 .text + c
0000000000000010  0000003000000105 R_AARCH64_PREL32       0000000000000000 alt_cb_patch_nops + 0
`);

const keyed = (section: string, symbol: string): Relocation => {
  const r = RELOCATIONS.find((x) => x.section === section && x.symbol === symbol);
  if (!r) throw new Error(`no ${symbol} in ${section}`);
  return r;
};

describe("codePlaceOf", () => {
  it("a static key in __jump_table stands for the code of its entry", () => {
    expect(
      codePlaceOf(keyed("__jump_table", "vgic_v2_cpuif_trap"), RELOCATIONS, SECTIONS, []),
    ).toEqual({ section: ".text", offset: 0x1b0 });
    expect(
      codePlaceOf(keyed("__jump_table", "vgic_v3_cpuif_trap"), RELOCATIONS, SECTIONS, []),
    ).toEqual({ section: ".text", offset: 0x220 });
  });

  it("an alternative callback in .altinstructions stands for the instructions it patches", () => {
    expect(
      codePlaceOf(keyed(".altinstructions", "alt_cb_patch_nops"), RELOCATIONS, SECTIONS, []),
    ).toEqual({ section: ".text", offset: 0xc });
  });

  it("a pointer to a function symbol counts from that symbol", () => {
    const viaSymbol = RELOCATIONS.map((r) =>
      r.section === "__jump_table" && r.offset === 0
        ? { ...r, symbol: "__fpsimd_save", addend: 8 }
        : r,
    );
    const symbols = [
      { value: 0x100, size: 64, type: "FUNC", bind: "LOCAL", ndx: "1", name: "__fpsimd_save" },
    ];
    expect(
      codePlaceOf(keyed("__jump_table", "vgic_v2_cpuif_trap"), viaSymbol, SECTIONS, symbols),
    ).toEqual({ section: ".text", offset: 0x108 });
  });

  it("anything else is left where it is", () => {
    const plain: Relocation = {
      section: ".text",
      offset: 0x40,
      type: "R_AARCH64_CALL26",
      symbol: "kfree",
      addend: 0,
    };
    expect(codePlaceOf(plain, RELOCATIONS, SECTIONS, [])).toBeNull();
    // An entry whose code pointer is missing (a table cut short) gives no place.
    const orphan: Relocation = { ...keyed("__jump_table", "vgic_v2_cpuif_trap"), offset: 0x28 };
    expect(codePlaceOf(orphan, RELOCATIONS, SECTIONS, [])).toBeNull();
  });
});

describe("beyondMachinery", () => {
  // The inline chain addr2line gives at a static key's branch in nVHE switch.c (linux 6.1).
  const chain = [
    { function: "arch_static_branch", file: "arch/arm64/include/asm/jump_label.h", line: 39 },
    { function: "kvm_arm_support_pmu_v3", file: "include/kvm/arm_pmu.h", line: 45 },
    {
      function: "__activate_traps_common",
      file: "arch/arm64/kvm/hyp/include/hyp/switch.h",
      line: 90,
    },
  ];

  it("starts at the line that tests the key, not inside arch_static_branch()", () => {
    expect(beyondMachinery("__jump_table", chain)[0]).toMatchObject({
      file: "include/kvm/arm_pmu.h",
      line: 45,
    });
  });

  it("keeps the chain of other sections, and all of it when only machinery is left", () => {
    expect(beyondMachinery(".text", chain)).toEqual(chain);
    expect(beyondMachinery("__jump_table", chain.slice(0, 1))).toEqual(chain.slice(0, 1));
  });
});
