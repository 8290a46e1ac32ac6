import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../io/exec.js";
import { compilerVersion } from "../io/kbuild.js";
import { parseNvheAliases } from "./aliases.js";
import {
  judgeNvheLink,
  linkFindings,
  nvheLinkScript,
  parseLinkDiagnostics,
  type LinkJudgement,
} from "./link.js";
import type { NvheAlias } from "./types.js";

const fixture = (name: string): string =>
  readFileSync(
    path.join(path.dirname(fileURLToPath(import.meta.url)), "../../test/fixtures/binutils", name),
    "utf8",
  );

/*
 * The ld outputs were captured from `aarch64-linux-gnu-ld` 2.40 linking the linux 6.1
 * defconfig kvm_nvhe.o with the vmlinux link's flags against `nvheLinkScript` of the
 * fixture vmlinux.lds' aliases: plus `memchr -> __kvm_nvhe___pi_memchr` (nothing defines
 * it), and without the `kvm_arm_vmid_bits` alias (kvm_mmu.h:275 uses it).
 */
const PROGRAM = "aarch64-linux-gnu-ld";
const SLOT_SRC = "/var/cache/hypwatch/slots/linux-source-6.1-ed653c6f2a/slot-0/src";
const MEMCHR: NvheAlias = { name: "memchr", target: "__kvm_nvhe___pi_memchr" };
const base = parseNvheAliases(fixture("vmlinux.lds"));

const ctx = {
  srcDir: SLOT_SRC,
  buildDir: "/nonexistent/build",
  config: "defconfig",
  object: "arch/arm64/kvm/hyp/nvhe/kvm_nvhe.o",
  covered: new Set<string>(),
  imageVars: null,
};

describe("nvheLinkScript", () => {
  it("defines the kernel targets and assigns every alias, one per line", () => {
    const script = nvheLinkScript([...base, MEMCHR]);
    const lines = script.text.split("\n");
    expect(lines).toContain("PROVIDE(kvm_vgic_global_state = 0);");
    // nVHE targets must come from kvm_nvhe.o: they get no value here.
    expect(lines).not.toContain("PROVIDE(__kvm_nvhe___pi_memcpy = 0);");
    expect(script.aliasAt.size).toBe(38);
    for (const [line, alias] of script.aliasAt)
      expect(lines[line - 1]).toBe(`__kvm_nvhe_${alias.name} = ${alias.target};`);
  });

  it("assigns 0 to an alias already rejected, and leaves out expressions and odd names", () => {
    const odd = { name: "x", target: "foo + 8" };
    const script = nvheLinkScript(
      [MEMCHR, odd, { name: "y", target: "INCLUDE/etc" }],
      new Set([MEMCHR]),
    );
    expect(script.text).toContain("__kvm_nvhe_memchr = 0;\n");
    expect(script.text).not.toContain("foo");
    expect(script.text).not.toContain("INCLUDE");
    expect(script.skipped.map((a) => a.name)).toEqual(["x", "y"]);
  });
});

describe("parseLinkDiagnostics on real ld output", () => {
  it("reads the undefined alias target and the script line ld stopped at", () => {
    const stderr = fixture("ld-alias-undefined-target.stderr.txt");
    const diagnostics = parseLinkDiagnostics(stderr, PROGRAM);
    expect(diagnostics).toEqual([
      {
        kind: "undefined-in-expression",
        symbol: "__kvm_nvhe___pi_memchr",
        file: "/tmp/fx/nvhe-aliases.lds",
        line: 72,
        section: null,
        offset: null,
        function: null,
      },
    ]);
    // The line is the alias' line of the script the output was captured with.
    expect(nvheLinkScript([...base, MEMCHR]).aliasAt.get(72)).toEqual(MEMCHR);
  });

  it("reads undefined references with their source line, function and relocation", () => {
    const diagnostics = parseLinkDiagnostics(fixture("ld-alias-missing.stderr.txt"), PROGRAM);
    expect(diagnostics.length).toBeGreaterThan(3);
    expect(new Set(diagnostics.map((d) => d.kind))).toEqual(
      new Set(["undefined-reference", "relocation"]),
    );
    for (const d of diagnostics)
      expect(d).toMatchObject({ symbol: "__kvm_nvhe_kvm_arm_vmid_bits" });
    expect(diagnostics[0]).toEqual({
      kind: "undefined-reference",
      symbol: "__kvm_nvhe_kvm_arm_vmid_bits",
      file: `${SLOT_SRC}/arch/arm64/include/asm/kvm_mmu.h`,
      line: 275,
      section: null,
      offset: null,
      function: "kvm_get_vttbr",
    });
    // The `dangerous relocation` line gives the relocation before it its place.
    expect(diagnostics[1]).toMatchObject({
      kind: "relocation",
      relocation: "R_AARCH64_ADR_PREL_PG_HI21",
      line: 275,
      section: ".hyp.text",
      offset: 0x1518,
    });
  });

  it("reads ld's summary of more references from a table without debug lines", () => {
    // linux 6.1 with KVM_NVHE_ALIAS(kvm_vgic_global_state) removed: the static key's
    // __jump_table entries, after the first undefined reference.
    const stderr =
      `${PROGRAM}: arch/arm64/kvm/hyp/nvhe/kvm_nvhe.o:__kvm_nvhe_switch.c:(__jump_table+0x78): ` +
      "more undefined references to `__kvm_nvhe_kvm_vgic_global_state' follow\n";
    expect(parseLinkDiagnostics(stderr, PROGRAM)).toEqual([
      expect.objectContaining({
        kind: "undefined-reference",
        symbol: "__kvm_nvhe_kvm_vgic_global_state",
        file: "__kvm_nvhe_switch.c",
        section: "__jump_table",
        offset: 0x78,
      }),
    ]);
  });

  it("keeps an error it does not know as `other`, and drops warnings", () => {
    const stderr = `${PROGRAM}: warning: -z norelro ignored\n${PROGRAM}: kvm_nvhe.o: something new\n`;
    expect(parseLinkDiagnostics(stderr, PROGRAM)).toEqual([
      expect.objectContaining({ kind: "other", file: "kvm_nvhe.o" }),
    ]);
  });
});

describe("linkFindings", () => {
  const judged = (over: Partial<LinkJudgement>): LinkJudgement => ({
    broken: [],
    diagnostics: [],
    skipped: [],
    rounds: 1,
    exitCode: 1,
    ...over,
  });

  it("reports a rejected alias at its image-vars.h line", () => {
    const imageVars =
      "/* x */\nKVM_NVHE_ALIAS_HYP(memset, __pi_memset);\nKVM_NVHE_ALIAS_HYP(memchr, __pi_memchr);\n";
    const drafts = linkFindings(judged({ broken: [MEMCHR], exitCode: 0 }), { ...ctx, imageVars });
    expect(drafts).toEqual([
      expect.objectContaining({
        rule: "hyp/link-error",
        kind: "alias",
        symbol: "__pi_memchr",
        file: "arch/arm64/kernel/image-vars.h",
        line: 3,
        function: null,
      }),
    ]);
    expect(drafts[0]?.message).toContain("KVM_NVHE_ALIAS_HYP(memchr, __pi_memchr)");
  });

  it("says nothing more about a symbol `nm -u` already reports", () => {
    const diagnostics = parseLinkDiagnostics(fixture("ld-alias-missing.stderr.txt"), PROGRAM);
    const covered = new Set(["kvm_arm_vmid_bits"]);
    expect(linkFindings(judged({ diagnostics }), { ...ctx, covered })).toEqual([]);
  });

  it("reports what ld rejects and no rule explains once per place, tree-relative, without ld's text", () => {
    const diagnostics = parseLinkDiagnostics(fixture("ld-alias-missing.stderr.txt"), PROGRAM);
    const drafts = linkFindings(judged({ diagnostics }), ctx);
    expect(drafts.map((d) => [d.kind, d.symbol, d.file, d.line, d.function])).toEqual([
      ["symbol", "kvm_arm_vmid_bits", "arch/arm64/include/asm/kvm_mmu.h", 275, "kvm_get_vttbr"],
    ]);
    for (const d of drafts) {
      expect(d.message).not.toContain("recompile");
      expect(d.message).not.toContain(SLOT_SRC);
    }
  });

  it("reports an unclassified failure once, and nothing for a link that succeeded", () => {
    const diagnostics = parseLinkDiagnostics(`${PROGRAM}: kvm_nvhe.o: a new error\n`, PROGRAM);
    expect(linkFindings(judged({ diagnostics }), ctx)).toEqual([
      expect.objectContaining({ kind: "link", symbol: "ld", occurrences: 1 }),
    ]);
    expect(linkFindings(judged({ diagnostics, exitCode: 0 }), ctx)).toEqual([]);
    expect(linkFindings(judged({}), ctx)).toEqual([
      expect.objectContaining({ kind: "link", symbol: "ld" }),
    ]);
  });
});

const cross = (await compilerVersion()) !== "";

describe.skipIf(!cross)("judgeNvheLink with the real ld", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "hypwatch-link-test-"));
    // A prefixed hyp object: it defines __pi_memcpy, calls memcpy (aliased) and a kernel
    // symbol through an alias, and has a local function.
    await writeFile(
      path.join(dir, "hyp.S"),
      [
        "\t.text",
        "\t.globl __kvm_nvhe___pi_memcpy",
        "__kvm_nvhe___pi_memcpy:",
        "\tbl __kvm_nvhe_memcpy",
        "\tadrp x0, __kvm_nvhe_kvm_vgic_global_state",
        "\tret",
        "__kvm_nvhe_local_helper:",
        "\tret",
        "",
      ].join("\n"),
    );
    const as = await run("aarch64-linux-gnu-as", ["-o", "hyp.o", "hyp.S"], { cwd: dir });
    expect(as.stderr).toBe("");
    // The same object as a CPU_BIG_ENDIAN kernel builds it.
    const asBe = await run("aarch64-linux-gnu-as", ["-EB", "-o", "hyp-be.o", "hyp.S"], {
      cwd: dir,
    });
    expect(asBe.stderr).toBe("");
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  const good: NvheAlias[] = [
    { name: "memcpy", target: "__kvm_nvhe___pi_memcpy" },
    { name: "kvm_vgic_global_state", target: "kvm_vgic_global_state" },
  ];

  it("links a clean object in one round", async () => {
    const judgement = await judgeNvheLink("hyp.o", good, { cwd: dir });
    expect(judgement).toMatchObject({ broken: [], diagnostics: [], rounds: 1, exitCode: 0 });
  });

  it("links a big-endian object as a big-endian vmlinux links it", async () => {
    const judgement = await judgeNvheLink("hyp-be.o", good, { cwd: dir });
    expect(judgement).toMatchObject({ broken: [], diagnostics: [], rounds: 1, exitCode: 0 });
  });

  it("finds every alias to an undefined or local nVHE symbol, one round each", async () => {
    const missing = { name: "memchr", target: "__kvm_nvhe___pi_memchr" };
    const local = { name: "helper", target: "__kvm_nvhe_local_helper" };
    const judgement = await judgeNvheLink("hyp.o", [...good, missing, local], { cwd: dir });
    expect(judgement.broken).toEqual([missing, local]);
    expect(judgement).toMatchObject({ rounds: 3, exitCode: 0, diagnostics: [] });
  });

  it("sees an unaliased reference as ld does", async () => {
    const judgement = await judgeNvheLink("hyp.o", good.slice(1), { cwd: dir });
    expect(judgement.exitCode).not.toBe(0);
    expect(judgement.diagnostics).toContainEqual(
      expect.objectContaining({ kind: "undefined-reference", symbol: "__kvm_nvhe_memcpy" }),
    );
  });
});
