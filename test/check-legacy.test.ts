import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkLegacySources, type LegacyVerdict } from "../src/check/index.js";
import { compileObject } from "../src/io/compiler.js";
import { analyzeLegacyObjects } from "../src/check/legacy.js";
import { run } from "../src/io/exec.js";

// Legacy-style (__hyp_text) sources compiled by the real aarch64 cross compiler: real
// objects, real relocations, mapped back to source by addr2line.
const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "legacy");
const SOURCES = ["switch.c", "timer-sr.c", "vgic-v3-sr.c", "hyp-entry.S"];
const FLAGS = ["-g", "-Iinclude"];

const haveCompiler =
  (await run("aarch64-linux-gnu-gcc", ["--version"]).catch(() => null))?.exitCode === 0;

describe.skipIf(!haveCompiler)("legacy hyp objects built by aarch64-linux-gnu-gcc", () => {
  let out: string;
  let verdicts: LegacyVerdict[];
  const findingsOf = (variant: string) => {
    const v = verdicts.find((x) => x.variant === variant);
    if (v?.status !== "checked") throw new Error(`${variant} not checked`);
    return v.findings;
  };
  const summary = (variant: string) =>
    findingsOf(variant)
      .map((f) => `${f.rule} ${f.symbol} in ${f.function} at ${f.file}:${f.line}`)
      .sort();

  beforeAll(async () => {
    out = await mkdtemp(path.join(tmpdir(), "hypwatch-legacy-"));
    verdicts = await checkLegacySources({
      sources: SOURCES,
      srcDir: FIXTURES,
      outDir: out,
      flags: FLAGS,
    });
  });
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it("at -O2 reports the outlined static inline, the kernel calls from C and asm, nothing else", () => {
    expect(summary("-O2")).toEqual([
      "hyp/legacy-call-outside-hyp kfree in __kvm_vcpu_free_host_data at switch.c:38",
      "hyp/legacy-call-outside-hyp panic in __hyp_do_panic at hyp-entry.S:17",
      "hyp/outlined-inline __vgic_v3_save_lrs in __vgic_v3_save_aprs at vgic-v3-sr.c:44",
      "hyp/outlined-inline __vgic_v3_save_lrs in __vgic_v3_save_state at vgic-v3-sr.c:38",
      "hyp/outlined-inline __vgic_v3_save_lrs in __vgic_v3_sync_state at vgic-v3-sr.c:50",
    ]);
  });

  it("leaves alone __always_inline helpers, hyp-to-hyp calls (same file, other file, asm) and rodata", () => {
    for (const variant of ["-O2", "-Os", "-O2 -fno-inline"]) {
      const names = findingsOf(variant).map((f) => f.symbol);
      for (const fine of [
        "__vcpu_read_elr",
        "__save_guest_pc",
        "__timer_read_offset",
        "__kvm_vcpu_run",
      ]) {
        expect(names, `${variant}: ${fine}`).not.toContain(fine);
      }
      expect(
        names.some((n) => n.startsWith(".rodata")),
        variant,
      ).toBe(false);
    }
  });

  it("under -O2 -fno-inline exposes the latent plain static inline", () => {
    const latent = findingsOf("-O2 -fno-inline").filter(
      (f) => f.symbol === "system_uses_irq_prio_masking",
    );
    expect(latent).toHaveLength(1);
    expect(latent[0]).toMatchObject({
      rule: "hyp/outlined-inline",
      kind: "outlined-inline",
      severity: "error",
      function: "__kvm_vcpu_run",
      file: "switch.c",
      line: 30,
      config: "-O2 -fno-inline",
    });
    expect(latent[0]?.message).toContain("switch.c:12");
    expect(summary("-O2")).not.toContain(expect.stringContaining("system_uses_irq_prio_masking"));
  });

  it("gives no verdict, rather than a finding, when a variant does not build", async () => {
    const results = await checkLegacySources({
      sources: ["const-assert.c"],
      srcDir: FIXTURES,
      outDir: path.join(out, "assert"),
      flags: FLAGS,
    });
    expect(results.map((r) => [r.variant, r.status])).toEqual([
      ["-O2", "checked"],
      ["-Os", "checked"],
      ["-O2 -fno-inline", "no-verdict"],
    ]);
    const failed = results[2];
    expect(failed?.status === "no-verdict" && failed.reason).toContain("const-assert.c:14");
    expect(results[0]?.status === "checked" && results[0].findings).toEqual([]);
  });

  it("judges a single object on its own: calls to other hyp objects are then external", async () => {
    const obj = path.join(out, "switch-alone.o");
    const compiled = await compileObject({
      source: path.join(FIXTURES, "switch.c"),
      output: obj,
      flags: ["-O2", ...FLAGS],
      cwd: FIXTURES,
    });
    expect(compiled.ok).toBe(true);
    const findings = await analyzeLegacyObjects({
      objects: [obj],
      srcDir: FIXTURES,
      config: "-O2",
    });
    expect(findings.map((f) => f.symbol).sort()).toEqual(["__timer_read_offset", "kfree"]);
  });
});
