import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusPath } from "../../test/corpus.js";
import { run } from "../io/exec.js";
import { openGitDir, type OpenedGitDir } from "../io/git-archive.js";
import { parseMail } from "../mail/index.js";
import type { Patch } from "../mail/types.js";
import {
  aliasFindings,
  aliasesAddedByPatch,
  aliasLine,
  newAliases,
  parseNvheAliases,
} from "./aliases.js";
import { parseUndefinedSymbols } from "./elf.js";

const fixture = (name: string): string =>
  readFileSync(
    path.join(path.dirname(fileURLToPath(import.meta.url)), "../../test/fixtures/binutils", name),
    "utf8",
  );

describe("parseNvheAliases on the preprocessed vmlinux.lds of linux 6.1 defconfig", () => {
  const aliases = parseNvheAliases(fixture("vmlinux.lds"));

  it("reads KVM_NVHE_ALIAS and KVM_NVHE_ALIAS_HYP entries as configured", () => {
    expect(aliases).toHaveLength(37);
    expect(aliases).toContainEqual({
      name: "kvm_vgic_global_state",
      target: "kvm_vgic_global_state",
    });
    expect(aliases).toContainEqual({ name: "memcpy", target: "__kvm_nvhe___pi_memcpy" });
    // CONFIG_KASAN is off in defconfig: its #ifdef'd aliases are not there.
    expect(aliases.find((a) => a.name === "__memcpy")).toBeUndefined();
  });

  it("covers every undefined symbol of the clean kvm_nvhe.o (the baseline: nothing to report)", () => {
    const names = new Set(aliases.map((a) => a.name));
    const undefinedNames = parseUndefinedSymbols(fixture("kvm_nvhe.nm-u.txt"));
    const unaliased = undefinedNames
      .map((n) => n.replace(/^__kvm_nvhe_/, ""))
      .filter((n) => !names.has(n));
    expect(unaliased).toEqual([]);
  });

  it("reads PROVIDE()d assignments and ignores comparisons", () => {
    expect(
      parseNvheAliases('PROVIDE(__kvm_nvhe_foo = foo);\nASSERT(__kvm_nvhe_bar == 0, "x");\n'),
    ).toEqual([{ name: "foo", target: "foo" }]);
  });
});

describe("newAliases and aliasFindings", () => {
  it("warns once per alias the patched build adds, naming the exposed symbol", () => {
    const base = parseNvheAliases(fixture("vmlinux.lds"));
    const patched = [...base, { name: "kfree", target: "kfree" }];
    const added = newAliases(base, patched);
    expect(added).toEqual([{ name: "kfree", target: "kfree" }]);
    const imageVars = "/* x */\nKVM_NVHE_ALIAS(kvm_vgic_global_state);\nKVM_NVHE_ALIAS(kfree);\n";
    const [finding, ...rest] = aliasFindings(added, "defconfig", imageVars);
    expect(rest).toEqual([]);
    expect(finding).toMatchObject({
      rule: "hyp/new-alias",
      severity: "warning",
      kind: "alias",
      symbol: "kfree",
      file: "arch/arm64/kernel/image-vars.h",
      line: 3,
      config: "defconfig",
    });
    expect(finding?.message).toContain("kfree");
    expect(newAliases(base, base)).toEqual([]);
  });

  it("finds the line of an alias written with _HYP", () => {
    expect(
      aliasLine("a\nKVM_NVHE_ALIAS_HYP(memcpy, __pi_memcpy);\n", { name: "memcpy", target: "x" }),
    ).toBe(2);
  });
});

describe("aliasesAddedByPatch on real list mail", () => {
  // "[PATCH v2 3/3] KVM: arm64: allow MTE in protected VMs if the tag storage is known"
  // <20220708212106.325260-4-pcc@google.com>, which adds KVM_NVHE_ALIAS(pkvm_mte_supported).
  const COMMIT = "2e551cfd62b58ed07d90cbd1c0c3dd8ed25c253a";
  let opened: OpenedGitDir;
  let patch: Patch | null = null;

  beforeAll(async () => {
    opened = await openGitDir(corpusPath("kvmarm-0.git"));
    const shown = await run("git", ["--git-dir", opened.gitDir, "show", `${COMMIT}:m`], {});
    const mail = await parseMail({
      raw: Buffer.from(shown.stdout, "latin1"),
      origin: `kvmarm-0.git@${COMMIT}`,
    });
    patch = mail.patch;
  });
  afterAll(async () => {
    await opened?.close();
  });

  it("reads the added alias and its line in the patched image-vars.h", () => {
    expect(patch).not.toBeNull();
    if (!patch) return;
    expect(aliasesAddedByPatch(patch)).toEqual([
      { alias: { name: "pkvm_mte_supported", target: "pkvm_mte_supported" }, line: 88 },
    ]);
  });
});
