import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { editedFiles, loadMutationCases, PatchWorkspace } from "../bench/mutation-cases.js";
import { checkSeries } from "../src/pipeline/check.js";
import { kernelTestsAvailable, linuxTree, testCacheDir } from "./linux-tree.js";

/*
 * The link as a judge, end to end on the real linux-source-6.1 tree: a series whose alias
 * ld rejects, checked by checkSeries in the test cache's slots (a cold build takes
 * minutes; later runs rebuild only what the patch touches).
 * HYPWATCH_SKIP_KERNEL_TESTS=1 skips this file.
 */
const BUILD_TIMEOUT = 45 * 60_000;
/** An alias to a symbol no nVHE object defines, and to a static (local) nVHE function. */
const CASES = ["alias-hyp-undefined-target", "alias-hyp-static-target"];

const available = await kernelTestsAvailable();

describe.skipIf(!available)("the vmlinux link as a judge on linux-source-6.1", () => {
  let tree = "";
  let workspace: PatchWorkspace;

  beforeAll(async () => {
    tree = await linuxTree();
    workspace = await PatchWorkspace.open(
      tree,
      editedFiles(await loadMutationCases(undefined, CASES)),
    );
  }, BUILD_TIMEOUT);
  afterAll(async () => workspace?.close());

  it.each(CASES)(
    "reports a KVM_NVHE_ALIAS_HYP ld rejects at its image-vars.h line (%s)",
    async (name) => {
      const [c] = await loadMutationCases(undefined, [name]);
      const prepared = await workspace.prepare(c!);
      const result = await checkSeries({
        repo: tree,
        patches: prepared.patches,
        baseCommit: prepared.base,
        configs: ["defconfig"],
        cacheDir: testCacheDir(),
      });
      expect(result.buildProblems).toEqual([]);
      expect(result.patches.map((p) => p.applied)).toEqual([true]);
      const brief = result.findings
        .map((f) => ({
          rule: f.rule,
          symbol: f.symbol,
          patch: f.introducedBy,
          fixedBy: f.fixedBy,
          file: f.file,
          line: f.line,
        }))
        .sort((a, b) => a.rule.localeCompare(b.rule));
      expect(brief).toEqual(
        prepared.expect
          .map((e) => ({
            rule: e.rule,
            symbol: e.symbol,
            patch: e.patch,
            fixedBy: e.fixedBy,
            file: e.file,
            line: e.line,
          }))
          .sort((a, b) => a.rule.localeCompare(b.rule)),
      );
      // Every undefined symbol of kvm_nvhe.o is aliased: only the link sees the problem.
      expect(result.findings.some((f) => f.rule === "hyp/undefined-symbol")).toBe(false);
      const link = result.findings.find((f) => f.rule === "hyp/link-error");
      expect(link?.message).toContain(`, ${link?.symbol}): `);
    },
    BUILD_TIMEOUT,
  );
});
