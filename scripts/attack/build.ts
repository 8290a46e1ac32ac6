import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cacheRoot, ensureTree } from "../../src/apply/index.js";
import { readConfig } from "../../src/config.js";
import { gitOk } from "../../src/io/git.js";
import { checkSeries, type CheckRequest, type CheckResult } from "../../src/pipeline/check.js";
import { checkRequest, selectSeries } from "../../src/pipeline/select.js";
import { renderCheckText } from "../../src/report/check.js";
import { PatchWorkspace, type MutationCase } from "../../bench/mutation-cases.js";
import type { AttackCase, AttackOutcome } from "./types.js";

/**
 * Attacks through `hypwatch check` on the real kernel tree, as a hostile series would make
 * them: a patched Makefile that plants code for the next series, reads a host file into a
 * symbol name, outlasts the check, or a base-commit naming an earlier series' commit.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const EXAMPLE = path.join(ROOT, "examples", "gicv2-warn-v1.mbox");
const NVHE_MAKEFILE = "arch/arm64/kvm/hyp/nvhe/Makefile";
const HYP_MAIN = "arch/arm64/kvm/hyp/nvhe/hyp-main.c";
const MAKEFILE_ANCHOR = "hostprogs := gen-hyprel";
const VCPU_RUN_ANCHOR = "static void handle___kvm_vcpu_run(struct kvm_cpu_context *host_ctxt)\n{\n";
const PLANT = "planted by an earlier series";

interface Stage {
  tree: string;
  cacheDir: string;
  workspace: PatchWorkspace;
}

let stage: Promise<Stage> | undefined;
let stageCache = (): string => path.join(cacheRoot(), "attack");

/** Run the attacks on `dir`'s slots (the test suite shares its warm cache with them). */
export function useBuildAttackCache(dir: string): void {
  stageCache = () => dir;
}

/** The kernel tree, a cache of the attacks' own, and a workspace to write patches in. */
function buildStage(): Promise<Stage> {
  stage ??= (async () => {
    const tree = await ensureTree({ tree: readConfig().tree });
    const cacheDir = stageCache();
    await mkdir(cacheDir, { recursive: true });
    await chmod(cacheDir, 0o755);
    const workspace = await PatchWorkspace.open(tree, [NVHE_MAKEFILE, HYP_MAIN]);
    return { tree, cacheDir, workspace };
  })();
  return stage;
}

export async function tearDownBuildStage(): Promise<void> {
  if (!stage) return;
  const s = await stage;
  stage = undefined;
  await s.workspace.close();
}

type Edit = MutationCase["patches"][number]["edits"][number];

const makefileLine = (line: string): Edit => ({
  file: NVHE_MAKEFILE,
  anchor: MAKEFILE_ANCHOR,
  replacement: `${MAKEFILE_ANCHOR}\n${line}`,
});

/** A one-patch series of `edits`, checked in defconfig on the attacks' cache. */
async function checkHostile(
  name: string,
  edits: Edit[],
  extra: Partial<CheckRequest> = {},
): Promise<CheckResult> {
  const s = await buildStage();
  const prepared = await s.workspace.prepare({
    name,
    description: name,
    configs: ["defconfig"],
    patches: [{ subject: `KVM: arm64: nvhe: ${name}`, body: "", edits }],
    expect: [],
  });
  return checkSeries({
    repo: s.tree,
    patches: prepared.patches,
    baseCommit: prepared.base,
    configs: ["defconfig"],
    cacheDir: s.cacheDir,
    ...extra,
  });
}

/** The bundled example series (3 findings in patch 2), checked on the attacks' cache. */
async function checkExample(): Promise<CheckResult> {
  const s = await buildStage();
  const config = { ...readConfig(), cacheDir: s.cacheDir };
  const selected = await selectSeries(EXAMPLE, config);
  return checkSeries({ ...checkRequest(s.tree, selected, config), configs: ["defconfig"] });
}

/** Files under `dir` whose text contains `needle` (the slots' build directories). */
async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile() || !/\.cmd$|auto\.conf$|\.mk$/.test(e.name)) continue;
    const file = path.join(e.parentPath, e.name);
    if ((await readFile(file, "utf8").catch(() => "")).includes(needle)) out.push(file);
  }
  return out;
}

const exampleIsRight = (r: CheckResult): string | null => {
  const symbols = new Set(r.findings.map((f) => f.symbol));
  if (r.buildProblems.length > 0)
    return `the next series' build failed: ${r.buildProblems.map((b) => b.logPath).join(", ")}`;
  if (!symbols.has("_printk") || !symbols.has("___ratelimit"))
    return `the next series' findings changed: ${[...symbols].join(", ")}`;
  return null;
};

/** A commit in `worktree` that no branch or tag holds; its id. */
async function commitOutsideHistory(worktree: string): Promise<string> {
  await writeFile(path.join(worktree, "HYPWATCH-FORGED"), "not upstream\n");
  await gitOk(worktree, ["add", "HYPWATCH-FORGED"]);
  const who = { GIT_AUTHOR_NAME: "a", GIT_AUTHOR_EMAIL: "a@b" };
  await gitOk(worktree, ["commit", "-q", "-m", "not upstream"], {
    env: { ...who, GIT_COMMITTER_NAME: "a", GIT_COMMITTER_EMAIL: "a@b" },
  });
  return (await gitOk(worktree, ["rev-parse", "HEAD"])).trim();
}

export const buildAttacks: AttackCase[] = [
  {
    name: "plant code in Kbuild's .cmd files and auto.conf for the next series",
    kind: "persistence",
    async run(): Promise<AttackOutcome> {
      const s = await buildStage();
      const plant =
        `PLANT := $(shell for f in $(obj)/.*.cmd include/config/auto.conf; do ` +
        `printf '\\n$$(error ${PLANT})\\n' >> $$f; done; ` +
        `echo '$$(error ${PLANT})' >> ${s.cacheDir}/planted.mk 2>/dev/null)`;
      const hostile = await checkHostile("plant for the next series", [makefileLine(plant)]);
      const planted = hostile.buildProblems.length > 0;
      const next = await checkExample();
      const wrong = exampleIsRight(next);
      const left = await filesContaining(s.cacheDir, PLANT);
      const held = planted && wrong === null && left.length === 0;
      return {
        held,
        outcome: [
          planted ? "the plant broke its own series' build" : "the plant did not run",
          wrong ?? "the next series built clean with its findings (_printk, ___ratelimit)",
          left.length ? `planted text left in ${left.join(", ")}` : "no planted text in any slot",
        ].join("; "),
      };
    },
  },
  {
    name: "read a host file into a symbol name that becomes a finding",
    kind: "read",
    async run(): Promise<AttackOutcome> {
      const dir = await mkdtemp("/var/tmp/hypwatch-attack-");
      await chmod(dir, 0o755);
      const secret = `s3cr3t${process.pid}x${Date.now()}`;
      const file = path.join(dir, "secret");
      await writeFile(file, `${secret}\n`, { mode: 0o644 });
      try {
        const result = await checkHostile("leak a host file", [
          makefileLine(
            `ccflags-y += -DHYPWATCH_LEAK=leak_$(shell cat ${file} 2>/dev/null || echo unreadable)`,
          ),
          {
            file: HYP_MAIN,
            anchor: VCPU_RUN_ANCHOR,
            replacement: `${VCPU_RUN_ANCHOR}\t{ extern void HYPWATCH_LEAK(void); HYPWATCH_LEAK(); }\n`,
          },
        ]);
        const text = renderCheckText(result) + JSON.stringify(result);
        const leaked = text.includes(secret);
        const ran = result.findings.some((f) => f.symbol === "leak_unreadable");
        return {
          held: !leaked && ran,
          outcome: leaked
            ? "the secret is in the findings"
            : ran
              ? "the build saw no host file: the finding names leak_unreadable"
              : `the attack did not build: ${result.findings.map((f) => f.symbol).join(", ")}`,
        };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  },
  {
    name: "outlast the check",
    kind: "exhaustion",
    async run(): Promise<AttackOutcome> {
      const started = Date.now();
      const result = await checkHostile(
        "sleep in the Makefile",
        [makefileLine("NAP := $(shell sleep 900)")],
        { seriesTimeoutMs: 30_000 },
      );
      const s = ((Date.now() - started) / 1000).toFixed(1);
      const bounds = result.buildProblems.map((b) => b.bound);
      return {
        held: bounds.includes("series-time") && Date.now() - started < 120_000,
        outcome: `check ended after ${s} s; bounds: ${bounds.join(", ") || "none"}`,
      };
    },
  },
  {
    name: "name an earlier series' commit as base-commit",
    kind: "persistence",
    async run(): Promise<AttackOutcome> {
      const s = await buildStage();
      // A commit made by applying a series lives in the tree's object store, as `git am`
      // in a slot leaves it; a sender who learned its id names it as the base.
      const dir = await mkdtemp(path.join(cacheRoot(), "attack-forge-"));
      await rm(dir, { recursive: true });
      await gitOk(s.tree, ["worktree", "add", "--detach", dir, "HEAD"]);
      const forged = await commitOutsideHistory(dir).finally(() =>
        gitOk(s.tree, ["worktree", "remove", "--force", dir]).catch(() => undefined),
      );
      const result = await checkHostile("trivial", [makefileLine("# nothing")], {
        baseCommit: forged,
      });
      const attempt = result.tree.attempts.find((a) => a.source === "base-commit");
      return {
        held: result.tree.baseCommit !== forged && attempt?.outcome === "missing",
        outcome:
          result.tree.baseCommit === forged
            ? "the forged commit was built as a trusted base"
            : `base-commit ${forged.slice(0, 12)} refused (${attempt?.outcome ?? "?"}); base ${result.tree.baseCommit?.slice(0, 12)} (${result.tree.baseChosenBy})`,
      };
    },
  },
];
