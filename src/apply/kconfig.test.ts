import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  blockers,
  choicePicks,
  cmdFileOptions,
  dependencyClosure,
  makefileOptions,
  mergeKconfigSymbols,
  negatedSymbols,
  optionCoverage,
  parseDotConfig,
  parseKconfig,
  positiveSymbols,
} from "./kconfig.js";

const fixture = (...p: string[]) =>
  readFileSync(
    path.join(path.dirname(fileURLToPath(import.meta.url)), "../../test/fixtures", ...p),
    "utf8",
  );

// Real files: the .cmd Kbuild wrote for nvhe/cache.S (linux-source-6.1 defconfig, O= build,
// the slot path shortened), the nVHE Makefile, lib/Kconfig.kasan and the address-space
// choices of arch/arm64/Kconfig.
const CACHE_CMD = fixture("kbuild", "cache.nvhe.o.cmd");
const NVHE_MAKEFILE = fixture("kbuild", "nvhe.Makefile");
const KASAN = fixture("kconfig", "Kconfig.kasan");
const ADDRESS_SPACE = fixture("kconfig", "arm64-address-space.Kconfig");

const symbols = mergeKconfigSymbols([
  ...parseKconfig(KASAN, "lib/Kconfig.kasan"),
  ...parseKconfig(ADDRESS_SPACE, "arch/arm64/Kconfig"),
]);

describe("cmdFileOptions", () => {
  it("names every option fixdep recorded for the object, each once", () => {
    const options = cmdFileOptions(CACHE_CMD);
    expect(options).toHaveLength(76);
    expect(options).toEqual(
      expect.arrayContaining(["KASAN_SW_TAGS", "ARM64_VA_BITS_52", "PREEMPTION"]),
    );
    // include/linux/kconfig.h mentions these in a comment: fixdep records them all the same.
    expect(options).toEqual(expect.arrayContaining(["BOOGER", "FOO"]));
    expect(options).toEqual([...options].sort());
  });

  it("reads the lower-case header names of trees before 5.13", () => {
    const old = "deps_x.o := \\\n    $(wildcard include/config/arm64/va/bits/52.h) \\\n";
    expect(cmdFileOptions(old)).toEqual(["ARM64_VA_BITS_52"]);
  });

  it("gives nothing for a link command", () => {
    expect(cmdFileOptions("cmd_a.o := aarch64-linux-gnu-ld -r -o a.o b.o\n")).toEqual([]);
  });
});

describe("makefileOptions", () => {
  it("names the options the nVHE Makefile tests", () => {
    // The nVHE Makefile of 6.1 tests one: it builds list_debug.c into the hyp with DEBUG_LIST.
    expect(makefileOptions(NVHE_MAKEFILE)).toEqual(["DEBUG_LIST"]);
  });

  it("skips comments", () => {
    expect(makefileOptions("# CONFIG_KASAN is ignored\nobj-$(CONFIG_KVM) += a.o\n")).toEqual([
      "KVM",
    ]);
  });
});

describe("parseKconfig", () => {
  it("reads each symbol's type, prompt, choice and dependencies", () => {
    expect(symbols.get("KASAN")).toMatchObject({ type: "bool", prompt: true, choice: null });
    expect(symbols.get("KASAN")?.depends).toEqual(
      expect.arrayContaining(["HAVE_ARCH_KASAN", "SLUB", "SYSFS", "SLAB"]),
    );
    expect(symbols.get("KASAN")?.conflicts).toEqual(["DEBUG_SLAB"]);
    // Inside `if KASAN` and the "KASAN mode" choice.
    expect(symbols.get("KASAN_HW_TAGS")).toMatchObject({
      type: "bool",
      prompt: true,
      choice: "lib/Kconfig.kasan:52",
    });
    expect(symbols.get("KASAN_HW_TAGS")?.depends).toEqual([
      "KASAN",
      "HAVE_ARCH_KASAN_HW_TAGS",
      "SLUB",
    ]);
    expect(symbols.get("CC_HAS_WORKING_NOSANITIZE_ADDRESS")).toMatchObject({
      type: "bool",
      prompt: false,
    });
    expect(symbols.get("ARM64_VA_BITS")).toMatchObject({ type: "int", prompt: false });
  });

  it("does not read help text as entries", () => {
    // The KASAN help mentions CONFIG_KASAN_GENERIC, and words like "config" in prose.
    expect([...symbols.values()].every((s) => /^[A-Z0-9_]+$/.test(s.name))).toBe(true);
  });

  it("keeps the members of one choice together and apart from the next", () => {
    const pages = symbols.get("ARM64_64K_PAGES")?.choice;
    expect(symbols.get("ARM64_4K_PAGES")?.choice).toBe(pages);
    expect(symbols.get("ARM64_VA_BITS_52")?.choice).not.toBe(pages);
    expect(symbols.get("ARM64_FORCE_52BIT")?.choice).toBeNull();
  });
});

describe("expressions", () => {
  it("splits what must be on from what must be off", () => {
    const expr = "ARM64_64K_PAGES && (ARM64_PAN || !ARM64_SW_TTBR0_PAN)";
    expect(positiveSymbols(expr)).toEqual(["ARM64_64K_PAGES", "ARM64_PAN"]);
    expect(negatedSymbols(expr)).toEqual(["ARM64_SW_TTBR0_PAN"]);
    expect(positiveSymbols("!(A || B) && C && D = n && E != y && $(cc-option,-mfoo)")).toEqual([
      "C",
    ]);
  });
});

describe("parseDotConfig", () => {
  it("reads y, m, values and options that are not set", () => {
    const values = parseDotConfig(
      'CONFIG_KVM=y\nCONFIG_VFIO=m\nCONFIG_ARM64_VA_BITS=48\nCONFIG_CC_VERSION_TEXT="gcc"\n# CONFIG_KASAN is not set\n',
    );
    expect(Object.fromEntries(values)).toEqual({
      KVM: "y",
      VFIO: "m",
      ARM64_VA_BITS: "48",
      CC_VERSION_TEXT: '"gcc"',
      KASAN: "n",
    });
  });
});

describe("choices and conflicts", () => {
  it("asks for the dependencies a user can turn on", () => {
    expect(dependencyClosure(["ARM64_FORCE_52BIT"], symbols)).toEqual([
      "ARM64_64K_PAGES",
      "ARM64_FORCE_52BIT",
      "ARM64_VA_BITS_52",
    ]);
  });

  it("picks one pending member per choice, with the members it needs, and turns rivals off", () => {
    const pending = ["ARM64_16K_PAGES", "ARM64_64K_PAGES", "ARM64_VA_BITS_52", "KASAN_SW_TAGS"];
    expect(choicePicks(pending, symbols)).toEqual({
      // 52-bit VA needs 64K pages: both are picked, and 16K waits for the next configuration.
      picks: ["ARM64_64K_PAGES", "ARM64_VA_BITS_52", "KASAN_SW_TAGS"],
      rivals: [
        "ARM64_16K_PAGES",
        "ARM64_4K_PAGES",
        "ARM64_VA_BITS_36",
        "ARM64_VA_BITS_39",
        "ARM64_VA_BITS_42",
        "ARM64_VA_BITS_47",
        "ARM64_VA_BITS_48",
        "KASAN_GENERIC",
        "KASAN_HW_TAGS",
      ],
    });
  });

  it("names what kept a pending option off through its dependencies", () => {
    const values = new Map([
      ["SLAB", "y"],
      ["DEBUG_SLAB", "y"],
      ["KASAN", "n"],
    ]);
    expect(blockers(["KASAN_SW_TAGS"], values, symbols)).toEqual(["DEBUG_SLAB"]);
  });
});

describe("optionCoverage", () => {
  it("counts the options on somewhere and says why the others are not", () => {
    const configs = [
      {
        name: "defconfig",
        values: parseDotConfig(
          "CONFIG_ARM64_4K_PAGES=y\nCONFIG_ARM64_VA_BITS=48\n# CONFIG_KASAN is not set\n",
        ),
      },
      {
        name: "instrumented",
        values: parseDotConfig(
          "CONFIG_ARM64_4K_PAGES=y\nCONFIG_KASAN=y\nCONFIG_KASAN_GENERIC=y\n# CONFIG_KASAN_SW_TAGS is not set\n",
        ),
      },
    ];
    const summary = optionCoverage(
      [
        "ARM64_4K_PAGES",
        "KASAN",
        "KASAN_SW_TAGS",
        "ARM64_VA_BITS",
        "ARM64_FORCE_52BIT",
        "X86",
        "CC_HAS_WORKING_NOSANITIZE_ADDRESS",
      ],
      symbols,
      configs,
    );
    expect(summary).toMatchObject({ total: 7, switchable: 5, on: 2, valued: 1, undefined: 1 });
    const off = Object.fromEntries(summary.options.map((o) => [o.name, o.off]));
    expect(off).toEqual({
      ARM64_4K_PAGES: null,
      ARM64_FORCE_52BIT: "dependencies",
      ARM64_VA_BITS: null,
      CC_HAS_WORKING_NOSANITIZE_ADDRESS: "no-prompt",
      KASAN: null,
      KASAN_SW_TAGS: "choice",
      X86: "not-defined",
    });
  });
});
