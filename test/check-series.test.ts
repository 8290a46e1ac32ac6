import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AttributedFinding } from "../src/check/index.js";
import { run } from "../src/io/exec.js";
import { poolDir } from "../src/apply/slots.js";
import { compilerVersion } from "../src/io/kbuild.js";
import { parseMail } from "../src/mail/index.js";
import { checkSeries, type CheckProgress, type CheckResult } from "../src/pipeline/check.js";
import { classifyResult, stepsDue } from "../src/pipeline/check-revision.js";
import { patchesFromFiles, selectSeries } from "../src/pipeline/select.js";
import { readConfig } from "../src/config.js";
import { renderCheckText } from "../src/report/check.js";
import { loadMutationCases, PatchWorkspace, editedFiles } from "../bench/mutation-cases.js";
import { readMbox } from "../src/intake/mbox.js";
import { MAILS } from "./git-fixtures.js";
import { startPublicInbox } from "./public-inbox-server.js";
import { kernelTestsAvailable, linuxTree, testCacheDir } from "./linux-tree.js";

/*
 * `hypwatch check` end to end on the real linux-source-6.1 tree: the CLI on the bundled
 * example series and on the bare tree (an audit), mutation cases through checkSeries, and a
 * real list patch that no longer applies. All share the test cache's worktree slot, so
 * after the first cold build (minutes) each check rebuilds only what a patch touches.
 * HYPWATCH_SKIP_KERNEL_TESTS=1 skips this file.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const EXAMPLE = path.join(ROOT, "examples", "gicv2-warn-v1.mbox");
const SWITCH_H = "arch/arm64/kvm/hyp/include/hyp/switch.h";
const BUILD_TIMEOUT = 45 * 60_000;

const available = await kernelTestsAvailable();

const clang = (await compilerVersion("clang")) !== "";

let tree = "";

/** `hypwatch check ... --json` as a user runs it, on the test cache. */
async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ exitCode: number; result: CheckResult }> {
  const out = await run(
    path.join(ROOT, "node_modules", ".bin", "tsx"),
    [path.join(ROOT, "src", "cli", "main.ts"), "check", "--tree", tree, ...args, "--json"],
    {
      cwd: ROOT,
      env: { ...stringEnv(process.env), HYPWATCH_CACHE: testCacheDir(), ...env },
      timeoutMs: BUILD_TIMEOUT,
    },
  );
  if (out.stdout.trim() === "") throw new Error(`hypwatch check failed: ${out.stderr}`);
  return { exitCode: out.exitCode, result: JSON.parse(out.stdout) as CheckResult };
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined),
  );
}

/** The new-file line of the first `+` line of `mail`'s diff of `file` containing `needle`. */
async function addedLine(mail: Buffer, file: string, needle: string): Promise<number> {
  const message = await parseMail({ raw: mail, origin: "example" });
  for (const diff of message.patch?.files ?? []) {
    if (diff.newPath !== file) continue;
    for (const hunk of diff.hunks) {
      let line = hunk.newStart;
      for (const l of hunk.lines) {
        if (l.startsWith("+") && l.includes(needle)) return line;
        if (!l.startsWith("-") && !l.startsWith("\\")) line++;
      }
    }
  }
  throw new Error(`${needle} is not added to ${file}`);
}

/** The example series, checked in defconfig on the test cache. */
async function exampleRequest() {
  const selected = await selectSeries(EXAMPLE, readConfig());
  return {
    repo: tree,
    patches: selected.patches,
    configs: ["defconfig"] as const,
    cacheDir: testCacheDir(),
  };
}

const brief = (f: AttributedFinding) => ({
  rule: f.rule,
  symbol: f.symbol,
  introducedBy: f.introducedBy,
  fixedBy: f.fixedBy,
  file: f.file,
  line: f.line,
});

describe.skipIf(!available)("hypwatch check on linux-source-6.1", () => {
  beforeAll(async () => {
    tree = await linuxTree();
  }, BUILD_TIMEOUT);

  it(
    "audits the bare tree, its two configurations built side by side: no findings in either",
    async () => {
      // Built and analyzed here, not taken from an earlier run's stored base.
      const { exitCode, result } = await cli(["--rebuild-base"], {
        HYPWATCH_CONFIGS_SIDE_BY_SIDE: "2",
      });
      expect(result.tree.baseReused).toEqual([]);
      expect(result.configs).toEqual(["defconfig", "instrumented"]);
      expect(result.buildProblems).toEqual([]);
      expect(result.tree).toMatchObject({ era: "modern", baseChosenBy: "head" });
      expect(result.findings).toEqual([]);
      expect(exitCode).toBe(0);
    },
    BUILD_TIMEOUT,
  );

  it(
    "reports the example's printk from a shared header at its line, only against patch 2",
    async () => {
      const { exitCode, result } = await cli(["--mbox", EXAMPLE, "--configs", "defconfig"]);
      expect(exitCode).toBe(1);
      expect(result.series).toMatchObject({ version: 1 });
      expect(result.patches.map((p) => p.applied)).toEqual([true, true, true]);
      expect(result.buildProblems).toEqual([]);
      expect(new Set(result.findings.map((f) => f.introducedBy))).toEqual(new Set([2]));

      const selected = await selectSeries(EXAMPLE, readConfig());
      const second = selected.patches[1];
      expect(second?.subject).toContain("[PATCH 2/3]");
      const line = await addedLine(Buffer.from(second!.mail), SWITCH_H, "pr_warn_ratelimited(");
      const symbols = result.findings.filter((f) => f.rule === "hyp/undefined-symbol");
      expect(symbols.map((f) => f.symbol).sort()).toEqual(["___ratelimit", "_printk"]);
      for (const f of symbols) {
        expect(f).toMatchObject({ file: SWITCH_H, line, fixedBy: null });
        // The nVHE copy of the header, not the VHE one (VHE may call printk).
        expect(f.object).toBe("arch/arm64/kvm/hyp/nvhe/switch.nvhe.o");
      }
    },
    BUILD_TIMEOUT,
  );

  it(
    "checks a thread named by its Message-ID, fetched from a real public-inbox as b4 am does",
    async () => {
      const peer = await startPublicInbox("kvmarm");
      try {
        for await (const mail of readMbox(EXAMPLE)) await peer.deliver(mail.raw);
        const cover = "<cover.1795632516.git.ada@example.org>";
        const { exitCode, result } = await cli([cover, "--configs", "defconfig"], {
          HYPWATCH_LORE_URL: peer.inboxUrl,
        });
        expect(exitCode).toBe(1);
        expect(result.series).toMatchObject({ version: 1 });
        expect(result.patches.map((p) => p.applied)).toEqual([true, true, true]);
        expect(result.findings.map((f) => f.symbol).sort()).toEqual([
          ".data",
          "___ratelimit",
          "_printk",
        ]);
      } finally {
        await peer.stop();
      }
    },
    BUILD_TIMEOUT,
  );

  it(
    "reuses the base's findings on a second series on the same base, with the same verdict",
    async () => {
      const request = await exampleRequest();
      const rebuilt = await checkSeries({ ...request, reuseBase: false });
      const reused = await checkSeries(request);
      expect(rebuilt.tree.baseReused).toEqual([]);
      expect(reused.tree.baseReused).toEqual(["defconfig"]);
      expect(reused.tree.baseCommit).toBe(rebuilt.tree.baseCommit);
      expect(reused.findings.map(brief)).toEqual(rebuilt.findings.map(brief));
      expect(reused.findings.map((f) => f.symbol).sort()).toEqual([
        ".data",
        "___ratelimit",
        "_printk",
      ]);
    },
    BUILD_TIMEOUT,
  );

  it(
    "builds the base in a slot without a current base build, though its findings are stored",
    async () => {
      const request = await exampleRequest();
      const stored = await checkSeries(request);
      expect(stored.tree.baseReused).toEqual(["defconfig"]);
      // Every slot of the pool as a base build that did not finish leaves it.
      const pool = await poolDir(tree, testCacheDir());
      for (const slot of await readdir(pool)) {
        const stamp = path.join(pool, slot, "build", "defconfig.stamp.json");
        const text = await readFile(stamp, "utf8").catch(() => null);
        if (text) await writeFile(stamp, JSON.stringify({ ...JSON.parse(text), lastBuilt: null }));
      }
      const rebuilt = await checkSeries(request);
      expect(rebuilt.tree.baseReused).toEqual([]);
      const reused = await checkSeries(request);
      expect(reused.tree.baseReused).toEqual(["defconfig"]);
      expect(rebuilt.findings.map(brief)).toEqual(stored.findings.map(brief));
      expect(reused.findings.map(brief)).toEqual(stored.findings.map(brief));
    },
    BUILD_TIMEOUT,
  );

  it.skipIf(!clang)(
    "reaches the same verdict on the example with clang as the compiler",
    async () => {
      const { exitCode, result } = await cli(["--mbox", EXAMPLE, "--configs", "clang-defconfig"]);
      expect(exitCode).toBe(1);
      expect(result.configs).toEqual(["clang-defconfig"]);
      expect(result.buildProblems).toEqual([]);
      const selected = await selectSeries(EXAMPLE, readConfig());
      const line = await addedLine(
        Buffer.from(selected.patches[1]!.mail),
        SWITCH_H,
        "pr_warn_ratelimited(",
      );
      const symbols = result.findings.filter((f) => f.rule === "hyp/undefined-symbol");
      expect(symbols.map((f) => f.symbol).sort()).toEqual(["___ratelimit", "_printk"]);
      for (const f of symbols)
        expect(f).toMatchObject({
          file: SWITCH_H,
          line,
          introducedBy: 2,
          config: "clang-defconfig",
        });
      expect(result.findings.find((f) => f.rule === "hyp/unmapped-section")?.symbol).toBe(".data");
    },
    BUILD_TIMEOUT,
  );

  describe("mutation cases through checkSeries", () => {
    let workspace: PatchWorkspace;
    const names = [
      "series-fixed-by-3",
      "series-violation-in-2-of-5",
      "series-transient-then-violation",
      "clean-vhe-printk",
      "clean-host-arm-printk-kfree",
    ];

    const realBugs = path.join(ROOT, "bench", "real-bugs");

    beforeAll(async () => {
      const cases = [
        ...(await loadMutationCases(undefined, names)),
        ...(await loadMutationCases(realBugs, ["cpu-hwcaps-at-hyp"])),
      ];
      workspace = await PatchWorkspace.open(tree, editedFiles(cases));
    });
    afterAll(async () => workspace?.close());

    /** The defconfig check of mutation case `name`, made into mails on the tree's HEAD. */
    async function caseRequest(name: string, dir?: string) {
      const [c] = await loadMutationCases(dir, [name]);
      const prepared = await workspace.prepare(c!);
      const request = {
        repo: tree,
        patches: prepared.patches,
        baseCommit: prepared.base,
        configs: ["defconfig"] as const,
        cacheDir: testCacheDir(),
      };
      return { prepared, request };
    }

    it(
      "attributes a kfree added by patch 2 and removed by patch 3, at its line",
      async () => {
        const { prepared, request } = await caseRequest("series-fixed-by-3");
        const result = await checkSeries({ ...request, steps: "every" });
        const e = prepared.expect[0]!;
        expect(result.findings.map(brief)).toEqual([
          {
            rule: "hyp/undefined-symbol",
            symbol: "kfree",
            introducedBy: 2,
            fixedBy: 3,
            file: e.file,
            line: e.line,
          },
        ]);
        expect(renderCheckText(result)).toContain("(removed again by patch 3)");
      },
      BUILD_TIMEOUT,
    );

    it(
      "judges a series on its final state first, and builds no step between when it is clean",
      async () => {
        const { request } = await caseRequest("series-fixed-by-3");
        const built: number[] = [];
        const onProgress = (e: CheckProgress) => e.phase === "built" && built.push(e.step);
        const result = await checkSeries({ ...request, onProgress });
        // The base was stored by an earlier check, or built here; then only patch 3's state.
        expect(built.filter((step) => step !== 0)).toEqual([3]);
        expect(result.findings).toEqual([]);
        expect(result.patches.map((p) => [p.applied, p.changesHypBuild])).toEqual([
          [true, null],
          [true, null],
          [true, null],
        ]);
      },
      BUILD_TIMEOUT,
    );

    it(
      "bisects to the patch that brings a finding in, building three of five steps",
      async () => {
        const { prepared, request } = await caseRequest("series-violation-in-2-of-5");
        const built: number[] = [];
        const onProgress = (e: CheckProgress) => e.phase === "built" && built.push(e.step);
        const result = await checkSeries({ ...request, onProgress });
        // The final state first; then halfway (patch 2 has it), then patch 1 (does not).
        expect(built.filter((step) => step !== 0)).toEqual([5, 2, 1]);
        const e = prepared.expect[0]!;
        expect(result.findings.map(brief)).toEqual([
          {
            rule: "hyp/undefined-symbol",
            symbol: "schedule",
            introducedBy: 2,
            fixedBy: null,
            file: e.file,
            line: e.line,
          },
        ]);
        expect(result.causes?.map((c) => [c.introducedBy, c.file, c.line])).toEqual([
          [2, e.file, e.line],
        ]);
      },
      BUILD_TIMEOUT,
    );

    it(
      "keeps out of a bisected verdict what came and went between the steps it built",
      async () => {
        const { request } = await caseRequest("series-transient-then-violation");
        const built: number[] = [];
        const onProgress = (e: CheckProgress) => e.phase === "built" && built.push(e.step);
        const verdict = await checkSeries({ ...request, onProgress });
        // Step 2 has patch 1's kfree, which patch 3 removes: seen, but not pinned to patch 1.
        expect(built.filter((step) => step !== 0)).toEqual([5, 2, 3, 4]);
        const brief3 = (f: AttributedFinding) => [f.symbol, f.introducedBy, f.fixedBy];
        expect(verdict.findings.map(brief3)).toEqual([["schedule", 4, null]]);
        // Patch 1 was not built: the steps are due (building them finds kfree@1-3: the
        // mutation benchmark's series-transient-then-violation).
        expect(stepsDue({ kind: classifyResult(verdict).kind, result: verdict })).toBe(true);
      },
      BUILD_TIMEOUT,
    );

    it(
      "places a reference a helper loads through at the line that hands the helper the symbol",
      async () => {
        // cpus_have_cap() passes cpu_hwcaps to arch_test_bit(), whose load the line table
        // puts in include/asm-generic/bitops/generic-non-atomic.h.
        const { prepared, request } = await caseRequest("cpu-hwcaps-at-hyp", realBugs);
        const result = await checkSeries(request);
        const e = prepared.expect[0]!;
        const found = result.findings.filter((f) => f.symbol === "cpu_hwcaps");
        expect(found.length).toBeGreaterThan(1);
        for (const f of found) {
          expect([f.file, f.line, f.inlineChain[0]?.function]).toEqual([
            e.file,
            e.line,
            "cpus_have_cap",
          ]);
        }
        expect(result.causes?.length).toBe(1);
      },
      BUILD_TIMEOUT,
    );

    it(
      "finds nothing when VHE code calls printk, and builds nothing for it: no check reads VHE objects",
      async () => {
        const { request } = await caseRequest("clean-vhe-printk");
        const result = await checkSeries(request);
        expect(result.patches[0]).toMatchObject({
          applied: true,
          failure: null,
          changesHypBuild: false,
        });
        expect(result.buildProblems).toEqual([]);
        expect(result.findings).toEqual([]);
      },
      BUILD_TIMEOUT,
    );

    it(
      "does not rebuild for a patch to host code that no hyp object is built from",
      async () => {
        const { request } = await caseRequest("clean-host-arm-printk-kfree");
        // The base is built, and what it read does not include arm.c: patch 1 is not built.
        const events: CheckProgress[] = [];
        const onProgress = (e: CheckProgress) => events.push(e);
        const built = await checkSeries({ ...request, reuseBase: false, onProgress });
        expect(built.tree.baseReused).toEqual([]);
        expect(built.patches[0]).toMatchObject({ applied: true, changesHypBuild: false });
        expect(built.findings).toEqual([]);
        const plan = { steps: 2, config: "defconfig", total: 2 };
        expect(events.map((e) => (e.phase === "built" ? { ...e, durationMs: 0 } : e))).toEqual([
          { phase: "applying", patches: 1 },
          { phase: "building", step: 0, done: 0, ...plan },
          { phase: "built", step: 0, done: 1, ...plan, ok: true, durationMs: 0 },
          { phase: "analyzing", step: 0, done: 1, ...plan },
        ]);
        // The stored base says the same: nothing is built at all.
        events.length = 0;
        const skipped = await checkSeries({ ...request, onProgress });
        expect(events).toEqual([{ phase: "applying", patches: 1 }]);
        expect(skipped.tree.baseReused).toEqual(["defconfig"]);
        expect(skipped.patches[0]).toMatchObject({ applied: true, changesHypBuild: false });
        expect(skipped.timings.buildMs).toBe(0);
        expect(skipped.findings).toEqual([]);
        expect(renderCheckText(skipped)).toContain(
          "applied; changes no file the hyp objects are built from",
        );
      },
      BUILD_TIMEOUT,
    );
  });

  it(
    "names the failure kind and every base tried when a real list patch does not apply",
    async () => {
      const selected = await patchesFromFiles([MAILS.scsHypMakefile]);
      const result = await checkSeries({
        repo: tree,
        patches: selected.patches,
        baseCommit: selected.baseCommit,
        candidates: ["v5.5"],
        configs: ["defconfig"],
        cacheDir: testCacheDir(),
      });
      expect(result.tree.baseCommit).toBeNull();
      expect(result.tree.attempts).toEqual([
        { ref: "v5.5", source: "candidate", commit: null, outcome: "missing" },
        expect.objectContaining({
          ref: "HEAD",
          source: "head",
          outcome: "does-not-apply",
          failure: { patchId: selected.patches[0]!.id, kind: "context-mismatch" },
        }),
      ]);
      expect(result.patches).toEqual([
        expect.objectContaining({ index: 1, applied: false, failure: "context-mismatch" }),
      ]);
      expect(result.findings).toEqual([]);
      const text = renderCheckText(result);
      expect(text).toContain("does not apply to any base that was tried");
      expect(text).toContain("tried:   v5.5 (candidate): not in this tree");
    },
    BUILD_TIMEOUT,
  );
});
