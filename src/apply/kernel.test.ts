import { access, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../io/exec.js";
import { gitOk } from "../io/git.js";
import { DEFAULT_LIMITS, kbuildMake } from "../io/kbuild.js";
import { corruptedScsPatch, MAILS, patchFromEdit, readMail } from "../../test/git-fixtures.js";
import { linuxTree, slowTests, testCacheDir } from "../../test/linux-tree.js";
import { applyPatch } from "./am.js";
import { buildHyp, endSeriesArea } from "./build.js";
import { buildSeriesInSlot } from "./series.js";
import { detectEra, HYP_TARGETS } from "./era.js";
import { acquireSlot, resetSlot, type Slot } from "./slots.js";
import type { HypBuildResult } from "./types.js";

// One slot of the real kernel tree, built once (cold on a fresh cache) and shared by the
// tests below, which run in order: each builds only what its patch changed.
const HYP_MAIN = "arch/arm64/kvm/hyp/nvhe/hyp-main.c";

/** hyp-main.c with `statement` added as the first line of handle___kvm_vcpu_run(). */
const atVcpuRunEntry = (text: string, statement: string): string =>
  text.replace(
    /(static void handle___kvm_vcpu_run\(struct kvm_cpu_context \*host_ctxt\)\n\{\n)/,
    `$1\t${statement}\n`,
  );
let repo = "";
let base = "";
let slot: Slot;
let first: HypBuildResult;

const nmUndefined = async (obj: string) => (await run("aarch64-linux-gnu-nm", ["-u", obj])).stdout;
const compiled = async (log: string) =>
  (await readFile(log, "utf8")).split("\n").filter((l) => /^\s+CC\s/.test(l));
const nvheObj = () => path.join(slot.buildRoot, "defconfig", "arch/arm64/kvm/hyp/nvhe/kvm_nvhe.o");

beforeAll(async () => {
  repo = await linuxTree();
  base = (await gitOk(repo, ["rev-parse", "HEAD"])).trim();
  slot = await acquireSlot(repo, base, { cacheDir: testCacheDir() });
  await resetSlot(slot, base);
  first = await buildHyp(slot, "defconfig");
  console.log(`base hyp build: ${first.durationMs} ms, incremental=${first.incremental}`);
}, 1_800_000);

afterAll(async () => {
  await slot?.release();
});

describe("hyp build of the kernel tree's base", () => {
  it("is a modern tree whose nVHE objects and linker script get built, not its VHE objects", async () => {
    expect(await detectEra(slot.src)).toBe("modern");
    expect(first).toMatchObject({ ok: true, era: "modern", head: base, failedTargets: [] });
    const lds = await readFile(path.join(first.buildDir, "arch/arm64/kernel/vmlinux.lds"), "utf8");
    expect(lds).toMatch(/__kvm_nvhe_\w+ = \w+;/);
    const undef = await nmUndefined(nvheObj());
    expect(undef).toMatch(/__kvm_nvhe_/);
    expect(undef).not.toMatch(/__kvm_nvhe_kfree\b/);
    await expect(access(path.join(first.buildDir, "arch/arm64/kvm/hyp/vhe"))).rejects.toThrow();
  });

  it("has KVM and debug info on, as read back from .config, with line tables in the objects", async () => {
    expect(first.configReport.enabled).toEqual([
      "KVM",
      "DEBUG_INFO",
      "DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT",
    ]);
    const sections = await run("aarch64-linux-gnu-readelf", ["-S", "-W", nvheObj()]);
    expect(sections.stdout).toMatch(/\.debug_line/);
    expect(sections.stdout).toMatch(/\.debug_info/);
  });
});

describe("git am -3 on the kernel tree with real patches", () => {
  const cases: [string, () => Promise<Buffer>, string, string[]][] = [
    [
      "SCS v7 09/11 (legacy hyp Makefile)",
      () => readMail(MAILS.scsHypMakefile),
      "context-mismatch",
      ["arch/arm64/kvm/hyp/Makefile"],
    ],
    [
      "PMU fixes v2 1/5 (virt/kvm/arm, moved since)",
      () => readMail(MAILS.pmuTruncation),
      "missing-file",
      ["virt/kvm/arm/pmu.c"],
    ],
    ["SCS v7 cover letter", () => readMail(MAILS.scsCover), "malformed", []],
    ["SCS v7 09/11 with a broken hunk header", corruptedScsPatch, "malformed", []],
  ];
  for (const [name, mail, kind, paths] of cases) {
    it(`classifies ${name} as ${kind} and leaves the worktree clean`, async () => {
      const result = await applyPatch(slot.src, { id: name, mail: await mail() });
      expect(result).toMatchObject({ applied: false, kind, paths });
      expect((await gitOk(slot.src, ["rev-parse", "HEAD"])).trim()).toBe(base);
      expect(await gitOk(slot.src, ["status", "--porcelain"])).toBe("");
    }, 120_000);
  }
});

describe("incremental checks in the slot", () => {
  let oneLine: Buffer;

  it("rebuilds only the changed nVHE file after a one-line patch, and sees its effect", async () => {
    oneLine = await patchFromEdit(
      slot.src,
      HYP_MAIN,
      (t) => atVcpuRunEntry(t, "kfree(NULL);"),
      "KVM: arm64: nvhe: free nothing on vcpu run",
    );
    await resetSlot(slot, base);
    const applied = await applyPatch(slot.src, { id: "one-line", mail: oneLine });
    expect(applied.applied).toBe(true);
    const result = await buildHyp(slot, "defconfig");
    expect(result).toMatchObject({ ok: true, incremental: true });
    const cc = await compiled(result.logPath);
    expect(cc.join("\n")).toMatch(/hyp-main\.nvhe\.o/);
    expect(cc.length).toBeLessThanOrEqual(2);
    expect(await nmUndefined(nvheObj())).toMatch(/__kvm_nvhe_kfree\b/);
    console.log(`incremental one-line nVHE rebuild: ${result.durationMs} ms, ${cc.length} CC`);
  }, 600_000);

  it("reports the same patch applied twice as already-applied", async () => {
    const again = await applyPatch(slot.src, { id: "one-line-again", mail: oneLine });
    expect(again).toMatchObject({ applied: false, kind: "already-applied" });
  }, 120_000);

  it("names the object that fails to compile when a patch breaks the build", async () => {
    await resetSlot(slot, base);
    const broken = await patchFromEdit(
      slot.src,
      HYP_MAIN,
      (t) => atVcpuRunEntry(t, "undeclared_hyp_helper(host_ctxt);"),
      "KVM: arm64: nvhe: call a helper that does not exist",
    );
    await resetSlot(slot, base);
    expect((await applyPatch(slot.src, { id: "broken", mail: broken })).applied).toBe(true);
    const result = await buildHyp(slot, "defconfig");
    expect(result.ok).toBe(false);
    expect(result.timedOut).toBe(false);
    expect(result.failedTargets).toContain("arch/arm64/kvm/hyp/nvhe/hyp-main.nvhe.o");
    expect(await readFile(result.logPath, "utf8")).toMatch(/undeclared_hyp_helper/);
  }, 600_000);

  it("on a second check of the same base rebuilds only what the previous patch touched", async () => {
    await resetSlot(slot, base);
    const result = await buildHyp(slot, "defconfig");
    expect(result.ok).toBe(true);
    const cc = await compiled(result.logPath);
    expect(cc.length).toBeLessThanOrEqual(2);
    expect(await nmUndefined(nvheObj())).not.toMatch(/__kvm_nvhe_kfree\b/);
    const nothing = await buildHyp(slot, "defconfig");
    expect(await compiled(nothing.logPath)).toEqual([]);
    console.log(
      `second check on the same base: ${result.durationMs} ms, then ${nothing.durationMs} ms`,
    );
  }, 600_000);
});

describe("buildSeries", () => {
  it("builds the base and then base+1..k, handing each step over while the slot is held", async () => {
    await resetSlot(slot, base);
    const p1 = await patchFromEdit(
      slot.src,
      HYP_MAIN,
      (t) => atVcpuRunEntry(t, "kfree(NULL);"),
      "KVM: arm64: nvhe: free nothing on vcpu run",
    );
    const p2 = await patchFromEdit(
      slot.src,
      HYP_MAIN,
      (t) => t.replace("\tkfree(NULL);\n", "\tkfree(NULL);\n\tkfree_sensitive(NULL);\n"),
      "KVM: arm64: nvhe: and free nothing sensitively too",
    );
    await resetSlot(slot, base);
    const seen: [number, boolean, string][] = [];
    const result = await buildSeriesInSlot(
      slot,
      [
        { id: "p1", mail: p1 },
        { id: "p2", mail: p2 },
      ],
      {
        baseCommit: "0000000000000000000000000000000000000001",
        configs: ["defconfig"],
        onStep: async (step) => {
          // The base builds in the slot's own directory, patched steps in the series copy.
          const dir = step.builds[0]?.buildDir ?? "";
          expect(dir).toEqual(
            step.applied === 0
              ? path.join(slot.buildRoot, "defconfig")
              : expect.stringContaining("/series/"),
          );
          const undef = await nmUndefined(path.join(dir, "arch/arm64/kvm/hyp/nvhe/kvm_nvhe.o"));
          const freed = ["kfree", "kfree_sensitive"].filter((f) =>
            undef.includes(`__kvm_nvhe_${f}\n`),
          );
          seen.push([step.applied, step.builds.every((b) => b.ok), freed.join(",")]);
        },
      },
    );
    expect(result.base.commit).toBe(base);
    expect(result.base.attempts.map((a) => [a.source, a.outcome])).toEqual([
      ["base-commit", "missing"],
      ["head", "chosen"],
    ]);
    expect(result.apply?.complete).toBe(true);
    expect(seen).toEqual([
      [0, true, ""],
      [1, true, "kfree"],
      [2, true, "kfree,kfree_sensitive"],
    ]);
    await resetSlot(slot, base);
  }, 900_000);
});

describe("the build sandbox", () => {
  it("stops a patched Makefile from writing outside or opening a socket", async () => {
    const tag = `hypwatch-escape-${process.pid}-${Date.now()}`;
    const outside = [path.join(os.homedir(), tag), path.join(repo, tag), path.join(slot.src, tag)];
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    const probe = [
      "#!/bin/bash",
      ...outside.map((p, i) => `echo escaped > ${p}; echo "write${i}=$?"`),
      `(exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null; echo "tcp=$?"`,
      `python3 -c 'import socket; socket.create_connection(("127.0.0.1", ${port}), 2)' 2>/dev/null; echo "py=$?"`,
      "",
    ].join("\n");
    try {
      // Control: outside the sandbox the same probe connects (so the assertions below can fail).
      const control = await run("bash", ["-c", probe.replace(/echo escaped > \S+; /g, "")]);
      expect(control.stdout).toMatch(/tcp=0/);
      expect(connections).toBeGreaterThan(0);
      connections = 0;

      await writeFile(path.join(slot.src, "arch/arm64/kvm/hyp/nvhe/probe.sh"), probe);
      await gitOk(slot.src, ["add", "arch/arm64/kvm/hyp/nvhe/probe.sh"]);
      const mail = await patchFromEdit(
        slot.src,
        "arch/arm64/kvm/hyp/nvhe/Makefile",
        (t) =>
          `${t}\nPROBE := $(shell bash $(srctree)/$(src)/probe.sh > $(obj)/sandbox-probe 2>&1)\n`,
        "KVM: arm64: nvhe: probe the build environment",
      );
      expect(mail.toString()).toMatch(/probe\.sh/);
      await resetSlot(slot, base);
      expect((await applyPatch(slot.src, { id: "probe", mail })).applied).toBe(true);
      const result = await buildHyp(slot, "defconfig", {
        targets: ["arch/arm64/kvm/hyp/nvhe/"],
        area: "series",
      });
      expect(result.ok).toBe(true);
      const report = await readFile(
        path.join(result.buildDir, "arch/arm64/kvm/hyp/nvhe/sandbox-probe"),
        "utf8",
      );
      expect(report).toMatch(/write0=[1-9]/);
      expect(report).toMatch(/write1=[1-9]/);
      expect(report).toMatch(/write2=[1-9]/);
      expect(report).toMatch(/tcp=[1-9]/);
      expect(report).toMatch(/py=[1-9]/);
      expect(connections).toBe(0);
      for (const p of outside) await expect(access(p)).rejects.toThrow();
    } finally {
      server.close();
      await Promise.all(outside.map((p) => rm(p, { force: true })));
      await endSeriesArea(slot);
      await resetSlot(slot, base);
    }
  }, 600_000);

  it("kills a build that runs over its time limit, with every process in it", async () => {
    const buildDir = await mkdtemp(path.join(os.tmpdir(), "hypwatch-timeout-"));
    const tmpDir = await mkdtemp(path.join(os.tmpdir(), "hypwatch-timeout-tmp-"));
    try {
      await mkdir(buildDir, { recursive: true });
      const inv = {
        srcDir: slot.src,
        buildDir,
        tmpDir,
        logPath: path.join(buildDir, "build.log"),
        limits: { ...DEFAULT_LIMITS, timeoutMs: 4000 },
      };
      const started = Date.now();
      const result = await kbuildMake(inv, ["defconfig", "arch/arm64/kvm/hyp/nvhe/"]);
      expect(result.timedOut).toBe(true);
      expect(result.bound).toBe("time");
      expect(Date.now() - started).toBeLessThan(15_000);
      await new Promise((r) => setTimeout(r, 500));
      const ps = await run("ps", ["-eo", "args"]);
      expect(ps.stdout).not.toContain(buildDir);
      expect(await readFile(inv.logPath, "utf8")).toMatch(
        /stopped: ran over the time bound of 4 s/,
      );
    } finally {
      await rm(buildDir, { recursive: true, force: true });
      await rm(tmpDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe.runIf(slowTests())("instrumented configuration (HYPWATCH_SLOW_TESTS=1)", () => {
  it("enables what the compiler supports, and instrumentation shows in VHE but not nVHE", async () => {
    // It builds what the nVHE analysis reads; VHE is built here only to show KASAN is on.
    const nvheOnly = await buildHyp(slot, "instrumented");
    expect(nvheOnly).toMatchObject({ ok: true, targets: [...HYP_TARGETS.modern] });
    const result = await buildHyp(slot, "instrumented", {
      targets: [...HYP_TARGETS.modern, "arch/arm64/kvm/hyp/vhe/"],
    });
    expect(result.ok).toBe(true);
    const enabled = result.configReport.enabled;
    for (const o of [
      "SHADOW_CALL_STACK",
      "KASAN",
      "UBSAN",
      "KCOV",
      "FUNCTION_TRACER",
      "STACKPROTECTOR_STRONG",
    ])
      expect(enabled).toContain(o);
    const vhe = await nmUndefined(path.join(result.buildDir, "arch/arm64/kvm/hyp/vhe/switch.o"));
    expect(vhe).toMatch(/__asan_load8_noabort/);
    const nvhe = await nmUndefined(
      path.join(result.buildDir, "arch/arm64/kvm/hyp/nvhe/kvm_nvhe.o"),
    );
    expect(nvhe).not.toMatch(/asan|sanitizer_cov/);
    console.log(`instrumented build: ${result.durationMs} ms, incremental=${result.incremental}`);
  }, 1_800_000);
});
