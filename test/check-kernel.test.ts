import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  analyzeModernBuild,
  readNvheAliases,
  type Finding,
  type NvheAlias,
} from "../src/check/index.js";
import { parseRelocations } from "../src/check/elf.js";
import { readRelocations } from "../src/io/binutils.js";
import { run } from "../src/io/exec.js";
import { lockFile, type FileLock } from "../src/io/lock.js";
import { linuxTree } from "./linux-tree.js";

/*
 * The modern-era analysis on a real linux 6.1 build: a worktree of the kernel tree, one
 * out-of-tree build dir (defconfig + debug info + CONFIG_SHADOW_CALL_STACK), built once and
 * then rebuilt incrementally after each one-line change. The worktree and build dir are
 * kept between runs (under a lock, since several runs may share the machine). A cold run
 * takes a few minutes on two cores; HYPWATCH_SKIP_KERNEL_TESTS=1 skips this file.
 */
const available =
  process.env.HYPWATCH_SKIP_KERNEL_TESTS !== "1" &&
  (await run("aarch64-linux-gnu-gcc", ["--version"]).catch(() => null))?.exitCode === 0;
const TREE = available ? await linuxTree() : "";
const WORK = process.env.HYPWATCH_TEST_KERNEL_WORK ?? path.join(tmpdir(), "hypwatch-check-kernel");
const SRC = path.join(WORK, "src");
const BUILD = path.join(WORK, "build");
const MAKE = ["ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-", `O=${BUILD}`];
const TARGETS = [
  "arch/arm64/kvm/hyp/nvhe/",
  "arch/arm64/kvm/hyp/vhe/",
  "arch/arm64/kernel/vmlinux.lds",
];
const CONFIG = "defconfig+scs";

const HYP_MAIN = "arch/arm64/kvm/hyp/nvhe/hyp-main.c";
const ADJUST_PC = "arch/arm64/kvm/hyp/include/hyp/adjust_pc.h";
const NVHE_MAKEFILE = "arch/arm64/kvm/hyp/nvhe/Makefile";
const VHE_SWITCH = "arch/arm64/kvm/hyp/vhe/switch.c";

async function ok(file: string, args: string[], cwd: string): Promise<void> {
  const result = await run(file, args, { cwd, timeoutMs: 45 * 60_000 });
  if (result.exitCode !== 0) {
    const tail = `${result.stdout}\n${result.stderr}`.trim().split("\n").slice(-15).join("\n");
    throw new Error(`${result.command} failed (${result.exitCode}):\n${tail}`);
  }
}

async function build(): Promise<number> {
  const start = Date.now();
  await ok("make", ["-j2", ...MAKE, ...TARGETS], SRC);
  return Date.now() - start;
}

const originals = new Map<string, string>();

/** Replace `from` by `to` in a tree file (once), remembering the original. */
async function mutate(file: string, from: string, to: string): Promise<void> {
  const full = path.join(SRC, file);
  const text = await readFile(full, "utf8");
  expect(text, `${file} holds the text to change`).toContain(from);
  if (!originals.has(file)) originals.set(file, text);
  await writeFile(full, text.replace(from, to));
}

async function restoreAll(): Promise<void> {
  for (const [file, text] of originals) await writeFile(path.join(SRC, file), text);
  originals.clear();
}

async function lineOf(file: string, needle: string): Promise<number> {
  const lines = (await readFile(path.join(SRC, file), "utf8")).split("\n");
  const i = lines.findIndex((l) => l.includes(needle));
  expect(i, `${needle} in ${file}`).toBeGreaterThanOrEqual(0);
  return i + 1;
}

const analyze = (baseAliases?: NvheAlias[]): Promise<Finding[]> =>
  analyzeModernBuild({ srcDir: SRC, buildDir: BUILD, config: CONFIG, baseAliases });

// Rebuilds on a shared two-core machine: minutes, not seconds.
const BUILD_TIMEOUT = 15 * 60_000;

describe.skipIf(!available)(
  "analyzeModernBuild on a real linux 6.1 arm64 build",
  { timeout: BUILD_TIMEOUT },
  () => {
    let lock: FileLock | null = null;
    let baseAliases: NvheAlias[] = [];

    beforeAll(async () => {
      lock = await lockFile(`${WORK}.lock`, { timeoutMs: 30 * 60_000 });
      if (!existsSync(path.join(SRC, "Makefile"))) {
        await ok("git", ["-C", TREE, "worktree", "add", "--detach", SRC, "HEAD"], TREE);
      } else {
        // A run that died mid-change leaves its edits behind: put the tree back first.
        await ok("git", ["checkout", "--", "arch/arm64"], SRC);
      }
      if (!existsSync(path.join(BUILD, ".config"))) {
        await ok("make", [...MAKE, "defconfig"], SRC);
        await ok(
          "scripts/config",
          [
            "--file",
            path.join(BUILD, ".config"),
            "-e",
            "DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT",
            "-e",
            "SHADOW_CALL_STACK",
          ],
          SRC,
        );
        await ok("make", [...MAKE, "olddefconfig"], SRC);
      }
      const ms = await build();
      console.info(`kernel hyp build (cold or incremental): ${ms} ms`);
      const config = await readFile(path.join(BUILD, ".config"), "utf8");
      expect(config).toContain("CONFIG_SHADOW_CALL_STACK=y");
      baseAliases = await readNvheAliases(BUILD);
    }, 45 * 60_000);

    afterAll(async () => {
      await restoreAll();
      await lock?.release();
    });

    it("finds nothing in the clean tree, whose undefined nVHE symbols are all aliased", async () => {
      const start = Date.now();
      const findings = await analyze(baseAliases);
      console.info(`clean tree: ${findings.length} findings in ${Date.now() - start} ms`);
      expect(findings).toEqual([]);
      const nm = await run("aarch64-linux-gnu-nm", ["-u", "arch/arm64/kvm/hyp/nvhe/kvm_nvhe.o"], {
        cwd: BUILD,
      });
      const undefinedCount = nm.stdout.split("\n").filter((l) => /^\s+U /.test(l)).length;
      console.info(
        `clean kvm_nvhe.o: ${undefinedCount} undefined symbols, ${baseAliases.length} aliases`,
      );
      expect(undefinedCount).toBeGreaterThan(20);
    });

    it("reports a kfree() call in an nVHE function at its file, line and function, not in VHE code", async () => {
      try {
        await mutate(
          HYP_MAIN,
          "\t__kvm_flush_vm_context();\n",
          "\t__kvm_flush_vm_context();\n\tkfree(host_ctxt);\n",
        );
        // VHE code runs with the host at EL2 and may call the kernel.
        await mutate(
          VHE_SWITCH,
          "\tsysreg_restore_host_state_vhe(host_ctxt);\n",
          "\tsysreg_restore_host_state_vhe(host_ctxt);\n\tkfree(NULL);\n",
        );
        console.info(`rebuild after kfree(): ${await build()} ms`);
        const vhe = parseRelocations(
          await readRelocations("arch/arm64/kvm/hyp/vhe/switch.o", { cwd: BUILD }),
        );
        expect(vhe.some((r) => r.symbol === "kfree")).toBe(true);
        const findings = await analyze(baseAliases);
        expect(findings).toHaveLength(1);
        expect(findings[0]).toMatchObject({
          rule: "hyp/undefined-symbol",
          kind: "symbol",
          severity: "error",
          symbol: "kfree",
          file: HYP_MAIN,
          line: await lineOf(HYP_MAIN, "kfree(host_ctxt);"),
          function: "handle___kvm_flush_vm_context",
          object: "arch/arm64/kvm/hyp/nvhe/hyp-main.nvhe.o",
          config: CONFIG,
        });
      } finally {
        await restoreAll();
      }
    });

    it("reports a call written in a shared hyp header at the header line, with the nVHE function", async () => {
      try {
        const write = "\twrite_sysreg_el2(read_sysreg_el2(SYS_ELR) + 4, SYS_ELR);\n";
        await mutate(ADJUST_PC, write, `${write}\tschedule();\n`);
        console.info(`rebuild after schedule() in adjust_pc.h: ${await build()} ms`);
        const findings = await analyze(baseAliases);
        expect(findings.map((f) => [f.symbol, f.file, f.function])).toEqual([
          ["schedule", ADJUST_PC, "handle_trap"],
        ]);
        const [finding] = findings;
        expect(finding?.line).toBe(await lineOf(ADJUST_PC, "schedule();"));
        const chain = finding?.inlineChain.map((f) => f.function);
        expect(chain?.[0]).toBe("kvm_skip_host_instr");
        expect(chain?.[chain.length - 1]).toBe("handle_trap");
        expect(chain).toContain("handle_host_smc");
        expect(finding?.inlineChain.slice(1).every((f) => f.file === HYP_MAIN)).toBe(true);
      } finally {
        await restoreAll();
      }
    });

    it("reports data placed in a section hyp.lds does not map", async () => {
      try {
        await mutate(
          HYP_MAIN,
          "DEFINE_PER_CPU",
          "u64 __read_mostly hyp_trap_count = 1;\n\nDEFINE_PER_CPU",
        );
        await build();
        const findings = await analyze(baseAliases);
        expect(findings).toHaveLength(1);
        expect(findings[0]).toMatchObject({
          rule: "hyp/unmapped-section",
          kind: "section",
          symbol: ".data..read_mostly",
          file: HYP_MAIN,
          // A variable is not a function: it is named in the message.
          function: null,
          occurrences: 1,
        });
        expect(findings[0]?.message).toContain("(hyp_trap_count)");
      } finally {
        await restoreAll();
      }
    });

    it("warns about a new KVM_NVHE_ALIAS escape hatch, which also silences the symbol check", async () => {
      try {
        await mutate(
          "arch/arm64/kernel/image-vars.h",
          "KVM_NVHE_ALIAS(kvm_vgic_global_state);\n",
          "KVM_NVHE_ALIAS(kvm_vgic_global_state);\nKVM_NVHE_ALIAS(kfree);\n",
        );
        await mutate(
          HYP_MAIN,
          "\t__kvm_flush_vm_context();\n",
          "\t__kvm_flush_vm_context();\n\tkfree(host_ctxt);\n",
        );
        await build();
        const findings = await analyze(baseAliases);
        expect(findings.map((f) => [f.rule, f.symbol, f.severity])).toEqual([
          ["hyp/new-alias", "kfree", "warning"],
        ]);
        expect(findings[0]?.line).toBe(
          await lineOf("arch/arm64/kernel/image-vars.h", "KVM_NVHE_ALIAS(kfree)"),
        );
        // Without a base to compare with, the alias is part of the tree and not reported.
        expect(await analyze()).toEqual([]);
      } finally {
        await restoreAll();
      }
    });

    it("reports shadow-call-stack code when the nVHE Makefile stops filtering $(CC_FLAGS_SCS)", async () => {
      try {
        await mutate(
          NVHE_MAKEFILE,
          "$(CC_FLAGS_FTRACE) $(CC_FLAGS_SCS) $(CC_FLAGS_CFI)",
          "$(CC_FLAGS_FTRACE) $(CC_FLAGS_CFI)",
        );
        console.info(`rebuild without the SCS filter: ${await build()} ms`);
        const findings = await analyze(baseAliases);
        console.info(
          `SCS findings: ${findings.length} (objects: ${findings.map((f) => f.object).join(" ")})`,
        );
        expect(findings.length).toBeGreaterThan(0);
        const filterLine = await lineOf(
          NVHE_MAKEFILE,
          "KBUILD_CFLAGS := $(filter-out $(CC_FLAGS_FTRACE)",
        );
        for (const f of findings) {
          expect(f).toMatchObject({
            rule: "hyp/instrumentation",
            kind: "instrumentation",
            symbol: "shadow-call-stack",
            flags: ["-fsanitize=shadow-call-stack"],
            makefile: { file: NVHE_MAKEFILE, line: filterLine, present: false },
          });
          expect(f.message).toContain("-fsanitize=shadow-call-stack");
          expect(f.message).toContain("not $(CC_FLAGS_SCS)");
        }
        expect(findings.map((f) => f.file)).toContain("arch/arm64/kvm/hyp/nvhe/switch.c");
      } finally {
        await restoreAll();
      }
    });
  },
);
