import { mkdir, mkdtemp, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { buildInputs, changesBuild } from "./inputs.js";

describe("buildInputs", () => {
  it("collects the tree files of every .cmd file, without walking into the source link", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), "hypwatch-inputs-"));
    const src = path.join(root, "src");
    const build = path.join(root, "build");
    await mkdir(path.join(src, "arch"), { recursive: true });
    await mkdir(path.join(build, "arch/arm64/kvm/hyp/nvhe"), { recursive: true });
    await writeFile(
      path.join(build, "arch/arm64/kvm/hyp/nvhe/.switch.nvhe.o.cmd"),
      `cmd_x := gcc\nsource_x := ${src}/arch/arm64/kvm/hyp/nvhe/switch.c\n\n` +
        `deps_x := \\\n  ${src}/include/linux/kvm_host.h \\\n  include/generated/asm-offsets.h \\\n\n`,
    );
    // Kbuild's `source` link points at the tree; a .cmd file in the tree is not ours.
    await writeFile(path.join(src, "arch", ".stray.o.cmd"), `source_y := ${src}/arch/stray.c\n`);
    await symlink(src, path.join(build, "source"));
    expect([...(await buildInputs(build, src))].sort()).toEqual([
      "arch/arm64/kvm/hyp/nvhe/switch.c",
      "include/generated/asm-offsets.h",
      "include/linux/kvm_host.h",
    ]);
  });
});

describe("changesBuild", () => {
  const read = new Set(["arch/arm64/include/asm/kvm_host.h", "arch/arm64/kvm/hyp/nvhe/switch.c"]);

  it("is false for sources and headers the build did not read", () => {
    expect(changesBuild(["arch/arm64/kvm/arm.c", "include/linux/kvm_host.h"], read)).toBe(false);
  });

  it("is true for a source or header the build read", () => {
    expect(changesBuild(["arch/arm64/kvm/arm.c", "arch/arm64/include/asm/kvm_host.h"], read)).toBe(
      true,
    );
  });

  it("is true for anything that is not a C or assembly source or header", () => {
    for (const file of [
      "arch/arm64/kvm/Makefile",
      "arch/arm64/Kconfig",
      "arch/arm64/tools/cpucaps",
      "arch/arm64/kernel/vmlinux.lds.S.orig",
      "scripts/Makefile.build",
    ])
      expect(changesBuild([file], read), file).toBe(true);
  });

  it("is true for any file under the hyp directories, even one nothing reads yet", () => {
    expect(changesBuild(["arch/arm64/kvm/hyp/nvhe/new.c"], read)).toBe(true);
  });

  it("is false for VHE sources the build did not read, true for its Makefile", () => {
    expect(changesBuild(["arch/arm64/kvm/hyp/vhe/switch.c"], read)).toBe(false);
    expect(
      changesBuild(
        ["arch/arm64/kvm/hyp/vhe/switch.c"],
        new Set(["arch/arm64/kvm/hyp/vhe/switch.c"]),
      ),
    ).toBe(true);
    expect(changesBuild(["arch/arm64/kvm/hyp/vhe/Makefile"], read)).toBe(true);
  });
});
