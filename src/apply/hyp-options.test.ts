import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { arm64KconfigSymbols, hypBuildOptions, unionHypOptions } from "./hyp-options.js";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../test/fixtures");
let root = "";
let srcDir = "";
let buildDir = "";

// A tree and a build directory laid out as Kbuild leaves them, holding the real fixtures.
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "hyp-options-"));
  srcDir = path.join(root, "src");
  buildDir = path.join(root, "build");
  const put = async (file: string, text: string) => {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
  };
  const fixture = (...p: string[]) => readFile(path.join(FIXTURES, ...p), "utf8");
  await put(
    path.join(buildDir, "arch/arm64/kvm/hyp/nvhe/.cache.nvhe.o.cmd"),
    await fixture("kbuild", "cache.nvhe.o.cmd"),
  );
  // A link command: no dependencies, no options.
  await put(
    path.join(buildDir, "arch/arm64/kvm/hyp/nvhe/.kvm_nvhe.tmp.o.cmd"),
    await fixture("kbuild", "kvm_nvhe.tmp.o.cmd"),
  );
  await put(
    path.join(srcDir, "arch/arm64/kvm/hyp/nvhe/Makefile"),
    await fixture("kbuild", "nvhe.Makefile"),
  );
  await put(path.join(srcDir, "lib/Kconfig.kasan"), await fixture("kconfig", "Kconfig.kasan"));
  await put(
    path.join(srcDir, "arch/arm64/Kconfig"),
    await fixture("kconfig", "arm64-address-space.Kconfig"),
  );
  // Another architecture's Kconfig is not arm64's.
  await put(path.join(srcDir, "arch/x86/Kconfig"), 'config X86_ONLY\n\tbool "x86"\n');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("hypBuildOptions", () => {
  it("collects the options of the hyp .cmd files and Makefiles, with where each is named", async () => {
    const found = await hypBuildOptions(srcDir, buildDir);
    // The .cmd files of arch/arm64/kvm/hyp; vmlinux.lds has none in this directory.
    expect(found.cmdFiles).toBe(2);
    expect(found.makefiles).toBe(1);
    expect(found.sources.size).toBe(77);
    expect(found.sources.get("DEBUG_LIST")).toEqual(["arch/arm64/kvm/hyp/nvhe/Makefile"]);
    expect(found.sources.get("KASAN_SW_TAGS")).toEqual([
      "arch/arm64/kvm/hyp/nvhe/.cache.nvhe.o.cmd",
    ]);
    const union = unionHypOptions([found, found]);
    expect(union.get("KASAN_SW_TAGS")).toHaveLength(1);
  });

  it("reads the Kconfig files arm64 sees, not other architectures'", async () => {
    const symbols = await arm64KconfigSymbols(srcDir);
    expect(symbols.has("KASAN_SW_TAGS")).toBe(true);
    expect(symbols.has("ARM64_64K_PAGES")).toBe(true);
    expect(symbols.has("X86_ONLY")).toBe(false);
  });
});
