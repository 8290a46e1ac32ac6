import { access, readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gitOk } from "../io/git.js";
import { patchFromEdit } from "../../test/git-fixtures.js";
import { kernelTestsAvailable, linuxTree, testCacheDir } from "../../test/linux-tree.js";
import { applyPatch } from "./am.js";
import { ccacheInstalled } from "../io/kbuild.js";
import { buildHyp, endSeriesArea } from "./build.js";
import { acquireSlot, resetSlot, type Slot } from "./slots.js";

// A slot pool of its own, with the compiler cache on (`build.compilerCache`): the other
// kernel tests' slots build without it.
const available = (await kernelTestsAvailable()) && (await ccacheInstalled());
let slot: Slot;
let repo = "";
let base = "";
const pool = () => path.join(testCacheDir(), "compiler-cache");

const cacheDir = () => path.join(slot.buildRoot, "ccache");
const compiled = async (log: string) =>
  (await readFile(log, "utf8")).split("\n").filter((l) => /^\s+CC\s/.test(l));
/** Every file and directory under `dir`, with its size and mtime: what a write changes. */
const filesOf = async (dir: string) =>
  (
    await Promise.all(
      (await readdir(dir, { recursive: true })).map(async (f) => {
        const st = await stat(path.join(dir, f));
        return `${f} ${st.size} ${st.mtimeMs}`;
      }),
    )
  ).sort();

/** Apply `mail` on the base and build it in the series area, as a check builds a patch. */
async function seriesBuild(mail: Buffer) {
  // The base directory holds the base's objects: what an earlier test changed is put back
  // dated as built, so only the patch is rebuilt.
  await resetSlot(slot, base, { asBuilt: true });
  expect((await applyPatch(slot.src, { id: "patch", mail })).applied).toBe(true);
  return buildHyp(slot, "defconfig", { area: "series" });
}

beforeAll(async () => {
  if (!available) return;
  repo = await linuxTree();
  base = (await gitOk(repo, ["rev-parse", "HEAD"])).trim();
  slot = await acquireSlot(repo, base, { cacheDir: pool(), compilerCache: true });
  await resetSlot(slot, base);
  // The base build, in the slot's own directory, fills the cache.
  const built = await buildHyp(slot, "defconfig");
  expect(built.ok).toBe(true);
  expect(built.compilerCache).toBeDefined();
  console.log(`base nVHE build through ccache: ${built.durationMs} ms`, built.compilerCache);
}, 1_800_000);

afterAll(async () => {
  if (!slot) return;
  await endSeriesArea(slot);
  await resetSlot(slot, base);
  await slot.release();
});

describe.runIf(available)("the compiler cache (build.compilerCache)", () => {
  it("answers a series build from what the base build cached, and takes nothing from it", async () => {
    const cached = await filesOf(cacheDir());
    expect(cached.length).toBeGreaterThan(0);
    // A definition no object's code uses, at the end of a header every nVHE object includes:
    // make rebuilds them all, and each one's preprocessed code is what the base build cached.
    const mail = await patchFromEdit(
      slot.src,
      "arch/arm64/include/asm/kvm_hyp.h",
      (t) =>
        t.replace(
          /\n#endif \/\* __ARM64_KVM_HYP_H__ \*\/\n$/,
          "\n#define HYPWATCH_UNUSED_DEFINITION 1\n\n#endif /* __ARM64_KVM_HYP_H__ */\n",
        ),
      "KVM: arm64: define what nothing uses",
    );
    try {
      const result = await seriesBuild(mail);
      expect(result.ok).toBe(true);
      const cc = await compiled(result.logPath);
      expect(cc.join("\n")).toMatch(/hyp-main\.nvhe\.o/);
      expect(cc.length).toBeGreaterThan(10);
      expect(result.compilerCache?.misses).toBe(0);
      expect(result.compilerCache?.hits).toBeGreaterThanOrEqual(cc.length);
      // Read-only to the series build: nothing added, nothing touched.
      expect(await filesOf(cacheDir())).toEqual(cached);
      console.log(
        `header change, series build from the cache: ${result.durationMs} ms, ${cc.length} CC`,
        result.compilerCache,
      );
    } finally {
      await endSeriesArea(slot);
    }
  }, 900_000);

  it("keeps a patched Makefile from writing the cache, directly or through ccache", async () => {
    const cached = await filesOf(cacheDir());
    const planted = path.join(cacheDir(), "planted");
    const probe = [
      "#!/bin/bash",
      `echo planted > ${planted}; echo "write=$?"`,
      `rm -rf ${cacheDir()}/*; echo "remove=$?"`,
      // ccache with its read-only setting dropped: a cached object a base build would take.
      `printf 'int poisoned;\\n' > /tmp/p.c`,
      `env -u CCACHE_READONLY -u CCACHE_NOSTATS ccache aarch64-linux-gnu-gcc -c /tmp/p.c -o /tmp/p.o; echo "ccache=$?"`,
      "",
    ].join("\n");
    await writeFile(path.join(slot.src, "arch/arm64/kvm/hyp/nvhe/probe.sh"), probe);
    await gitOk(slot.src, ["add", "arch/arm64/kvm/hyp/nvhe/probe.sh"]);
    const mail = await patchFromEdit(
      slot.src,
      "arch/arm64/kvm/hyp/nvhe/Makefile",
      (t) => `${t}\nPROBE := $(shell bash $(srctree)/$(src)/probe.sh > $(obj)/cache-probe 2>&1)\n`,
      "KVM: arm64: nvhe: write the compiler cache",
    );
    try {
      const result = await seriesBuild(mail);
      expect(result.ok).toBe(true);
      const report = await readFile(
        path.join(result.buildDir, "arch/arm64/kvm/hyp/nvhe/cache-probe"),
        "utf8",
      );
      // The probe ran, and every write was refused.
      expect(report).toMatch(/ccache=\d+/);
      expect(report).toMatch(/write=[1-9]/);
      expect(report).toMatch(/remove=[1-9]/);
      await expect(access(planted)).rejects.toThrow();
      expect(await filesOf(cacheDir())).toEqual(cached);
    } finally {
      await endSeriesArea(slot);
    }
  }, 900_000);

  it("builds a series the way its base directory was built, whatever the slot says now", async () => {
    // The base directory was built through the cache; the slot is now taken without it. A
    // series build the other way would configure and rebuild everything, for every series.
    await slot.release();
    slot = await acquireSlot(repo, base, { cacheDir: pool(), compilerCache: false });
    expect(slot.compilerCache).toBe(false);
    const mail = await patchFromEdit(
      slot.src,
      "arch/arm64/kvm/hyp/nvhe/hyp-main.c",
      (t) => t.replace(/^(static void handle___kvm_vcpu_run\(.*\n\{\n)/m, "$1\tkfree(NULL);\n"),
      "KVM: arm64: nvhe: free nothing on vcpu run",
    );
    try {
      const result = await seriesBuild(mail);
      expect(result).toMatchObject({ ok: true, incremental: true });
      expect(result.compilerCache).toEqual({ hits: expect.any(Number), misses: 1 });
      expect((await compiled(result.logPath)).join("\n")).toMatch(/hyp-main\.nvhe\.o/);
      expect((await compiled(result.logPath)).length).toBeLessThanOrEqual(2);
    } finally {
      await endSeriesArea(slot);
    }
  }, 900_000);
});
