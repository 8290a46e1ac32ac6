import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  parseAddr2line,
  parseDisassembly,
  parseRelocations,
  parseSectionHeaders,
  parseSymbolTable,
  parseUndefinedSymbols,
  symbolAt,
} from "./elf.js";
import { isShadowCallStackInstruction } from "./instrumentation.js";

// Output captured from the real aarch64 binutils on a linux 6.1 defconfig build
// (hyp-main with a kfree() call and a schedule() in a shared header added).
const fixture = (name: string): string =>
  readFileSync(
    path.join(path.dirname(fileURLToPath(import.meta.url)), "../../test/fixtures/binutils", name),
    "utf8",
  );

describe("parseSectionHeaders on kvm_nvhe.o", () => {
  const sections = parseSectionHeaders(fixture("kvm_nvhe.readelf-S.txt"));

  it("reads every header with flags and sizes", () => {
    expect(sections).toHaveLength(40);
    const hypText = sections.find((s) => s.name === ".hyp.text");
    expect(hypText).toMatchObject({
      index: 4,
      type: "PROGBITS",
      size: 0xd948,
      alloc: true,
      exec: true,
    });
    expect(sections.find((s) => s.name === ".text")?.size).toBe(0);
    expect(sections.find((s) => s.name === ".debug_info")?.alloc).toBe(false);
    expect(sections.find((s) => s.name === "__kvm_ex_table")).toMatchObject({
      alloc: true,
      exec: false,
    });
  });
});

describe("parseUndefinedSymbols on kvm_nvhe.o", () => {
  it("lists the prefixed undefined symbols", () => {
    const names = parseUndefinedSymbols(fixture("kvm_nvhe.nm-u.txt"));
    expect(names).toHaveLength(31);
    expect(names.every((n) => n.startsWith("__kvm_nvhe_"))).toBe(true);
    expect(names).toContain("__kvm_nvhe_kvm_vgic_global_state");
  });
});

describe("parseRelocations on hyp-main.nvhe.o", () => {
  const text = fixture("hyp-main.kfree.readelf-r.txt");
  const relocs = parseRelocations(text);

  it("reads as many entries as each section header announces", () => {
    for (const m of text.matchAll(
      /Relocation section '\.rela(.*)' at offset \S+ contains (\d+) entr/g,
    )) {
      expect(relocs.filter((r) => r.section === m[1]).length, m[1]).toBe(Number(m[2]));
    }
  });

  it("finds the calls to kfree and schedule in .text", () => {
    expect(relocs.find((r) => r.symbol === "kfree")).toEqual({
      section: ".text",
      offset: 0x1fc,
      type: "R_AARCH64_CALL26",
      symbol: "kfree",
      addend: 0,
    });
    expect(relocs.find((r) => r.symbol === "schedule")?.offset).toBe(0x5f4);
  });
});

describe("parseSymbolTable and symbolAt on hyp-main.nvhe.o", () => {
  const symbols = parseSymbolTable(fixture("hyp-main.kfree.readelf-s.txt"));

  it("reads undefined and local function symbols", () => {
    expect(symbols).toHaveLength(85);
    expect(symbols.find((s) => s.name === "kfree")).toMatchObject({ ndx: "UND", bind: "GLOBAL" });
    expect(symbols.find((s) => s.name === "handle___kvm_flush_vm_context")).toMatchObject({
      value: 0x1e0,
      size: 48,
      type: "FUNC",
      bind: "LOCAL",
      ndx: "1",
    });
  });

  it("names the function covering an offset", () => {
    expect(symbolAt(symbols, 1, 0x1fc)?.name).toBe("handle___kvm_flush_vm_context");
    expect(symbolAt(symbols, 1, 0x5f4)?.name).toBe("handle_trap");
    expect(symbolAt(symbols, 2, 0x1fc)).toBeNull();
  });
});

describe("parseAddr2line", () => {
  it("keeps the inline chain innermost first", () => {
    const [direct, inlined] = parseAddr2line(fixture("hyp-main.kfree.addr2line.txt"));
    expect(direct?.address).toBe(0x1fc);
    expect(direct?.frames).toEqual([
      {
        function: "handle___kvm_flush_vm_context",
        file: "/work/trees/wt-check/arch/arm64/kvm/hyp/nvhe/hyp-main.c",
        line: 43,
      },
    ]);
    expect(inlined?.frames.map((f) => `${f.function}@${path.basename(f.file)}:${f.line}`)).toEqual([
      "kvm_skip_host_instr@adjust_pc.h:51",
      "handle_host_smc@hyp-main.c:277",
      "handle_trap@hyp-main.c:289",
    ]);
  });

  it("reads unknown locations and discriminators", () => {
    const [a, b] = parseAddr2line(
      "0x0000000000000010\n??\n??:0\n0x20\nfoo\n/x/y.c:7 (discriminator 2)\n",
    );
    expect(a?.frames).toEqual([{ function: "??", file: "??", line: null }]);
    expect(b?.frames).toEqual([{ function: "foo", file: "/x/y.c", line: 7 }]);
  });
});

describe("parseDisassembly with shadow-call-stack code", () => {
  it("finds the x18 pushes and pops per function", () => {
    const insns = parseDisassembly(fixture("switch.scs.objdump-d.txt"));
    const scs = insns.filter((i) => isShadowCallStackInstruction(i.text));
    expect(scs.map((i) => i.text)).toContain("str x30, [x18], #8");
    expect(scs.map((i) => i.text)).toContain("ldr x30, [x18, #-8]!");
    // The leaf host function needs no shadow stack; the two hyp functions that call out do.
    expect(new Set(scs.map((i) => `${i.section}:${i.function}`))).toEqual(
      new Set([".hyp.text:__kvm_vcpu_run", ".hyp.text:__kvm_vcpu_free_host_data"]),
    );
    expect(insns.filter((i) => /x18/.test(i.text)).length).toBe(scs.length);
  });
});
