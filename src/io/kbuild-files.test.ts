import { describe, expect, it } from "vitest";
import { kbuildInputs } from "./kbuild-files.js";

// The head and tail of a real .cmd file (linux-source-6.1, O= build of switch.nvhe.o).
const SRC = "/cache/slot-0/src";
const CMD = `cmd_arch/arm64/kvm/hyp/nvhe/switch.nvhe.o := aarch64-linux-gnu-gcc -Wp,-MMD,arch/arm64/kvm/hyp/nvhe/.switch.nvhe.o.d -nostdinc -c -o arch/arm64/kvm/hyp/nvhe/switch.nvhe.o ${SRC}/arch/arm64/kvm/hyp/nvhe/switch.c

source_arch/arm64/kvm/hyp/nvhe/switch.nvhe.o := ${SRC}/arch/arm64/kvm/hyp/nvhe/switch.c

deps_arch/arm64/kvm/hyp/nvhe/switch.nvhe.o := \\
    $(wildcard include/config/HW_PERF_EVENTS) \\
  ${SRC}/include/linux/compiler-version.h \\
    $(wildcard include/config/CC_VERSION_TEXT) \\
  include/generated/asm-offsets.h \\
  ${SRC}/arch/arm64/kvm/hyp/include/nvhe/spinlock.h \\
    $(wildcard include/config/NVHE_EL2_DEBUG) \\

arch/arm64/kvm/hyp/nvhe/switch.nvhe.o: $(deps_arch/arm64/kvm/hyp/nvhe/switch.nvhe.o)

$(deps_arch/arm64/kvm/hyp/nvhe/switch.nvhe.o):
`;

describe("kbuildInputs", () => {
  it("lists the source and every recorded dependency, without Kconfig wildcards", () => {
    expect(kbuildInputs(CMD)).toEqual([
      `${SRC}/arch/arm64/kvm/hyp/nvhe/switch.c`,
      `${SRC}/include/linux/compiler-version.h`,
      "include/generated/asm-offsets.h",
      `${SRC}/arch/arm64/kvm/hyp/include/nvhe/spinlock.h`,
    ]);
  });

  it("gives nothing for a .cmd without dependencies (a link or an archive)", () => {
    const link =
      "cmd_arch/arm64/kvm/hyp/vhe/built-in.a := rm -f $@; aarch64-linux-gnu-ar cDPrST $@ a.o\n";
    expect(kbuildInputs(link)).toEqual([]);
  });
});
