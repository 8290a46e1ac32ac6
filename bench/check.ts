/**
 * `npm run bench:check -- [--tree DIR] [--mbox FILE] [--skip-full-build] [--keep]`
 *
 * How long `hypwatch check` takes against the kernel's own way of finding the same error:
 *  (a) cold: a fresh cache dir, so the worktree slot is created and the hyp objects are
 *      built from nothing (an audit of the base, defconfig);
 *  (b) warm: the example series on that slot, defconfig, the base's findings stored by (a)
 *      (and the same with the base built and analyzed again; then both configurations,
 *      after the instrumented build dir has been filled once);
 *  (c) `make -j2 vmlinux` of the same defconfig with the series applied, which fails at
 *      the final link on the undefined `__kvm_nvhe_*` symbols (in a copy of the slot's
 *      build directory: patched code never builds in the base build directories);
 *  (d) with `--baseline REF`: this benchmark as it was at REF (a git worktree of this
 *      repository, the same kernel tree), run in the same session, for its warm check:
 *      what the current sandbox and build isolation cost against REF's.
 * Prints the times, the ratio full build / warm check, and the project's targets.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { loadavg } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { acquireSlot, cacheRoot, ensureTree, type BuildConfigName } from "../src/apply/index.js";
import { gitOk } from "../src/io/git.js";
import { run } from "../src/io/exec.js";
import { DEFAULT_LIMITS, kbuildMake } from "../src/io/kbuild.js";
import { copyTree } from "../src/io/untrusted.js";
import { checkSeries, type CheckResult } from "../src/pipeline/check.js";
import { selectSeries } from "../src/pipeline/select.js";
import { readConfig } from "../src/config.js";

const { values } = parseArgs({
  options: {
    tree: { type: "string" },
    mbox: { type: "string", default: "examples/gicv2-warn-v1.mbox" },
    "skip-full-build": { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
    baseline: { type: "string" },
  },
});

const TARGETS = { warmSeconds: 15, coldSeconds: 120, speedup: 50 };
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const repo = await ensureTree({ tree: values.tree ?? readConfig().tree });
const cacheDir = await mkdtemp(path.join(cacheRoot(), "bench-check-"));
// Builds run as an unprivileged uid that must reach the slots below it.
await chmod(cacheDir, 0o755);
const selected = await selectSeries(values.mbox, readConfig());
const problems: string[] = [];

async function timedCheck(
  label: string,
  configs: BuildConfigName[],
  withSeries: boolean,
  reuseBase = true,
): Promise<{ ms: number; result: CheckResult }> {
  const loadBefore = load();
  const started = Date.now();
  const result = await checkSeries({
    repo,
    patches: withSeries ? selected.patches : [],
    series: withSeries && selected.series ? selected.series : null,
    baseCommit: withSeries ? selected.baseCommit : null,
    configs,
    cacheDir,
    reuseBase,
  });
  const ms = Date.now() - started;
  const t = result.timings;
  const reused =
    result.tree.baseReused.length > 0 ? `base reused: ${result.tree.baseReused}; ` : "";
  console.log(
    `${label.padEnd(34)} ${secs(ms).padStart(8)}  (apply ${secs(t.applyMs)}, build ${secs(t.buildMs)}, ` +
      `analyze ${secs(t.analyzeMs)}; ${reused}${result.findings.length} finding(s); load ${loadBefore} -> ${load()})`,
  );
  for (const b of result.buildProblems)
    problems.push(`${label}: ${b.config} build failed at step ${b.step}`);
  return { ms, result };
}

function checkSeriesFindings(label: string, result: CheckResult): void {
  const symbols = new Set(result.findings.map((f) => f.symbol));
  const outside = result.findings.filter((f) => f.introducedBy !== 2);
  if (result.patches.some((p) => !p.applied)) problems.push(`${label}: the series did not apply`);
  if (!symbols.has("_printk") || !symbols.has("___ratelimit"))
    problems.push(`${label}: _printk / ___ratelimit not found (${[...symbols].join(", ")})`);
  if (outside.length > 0) problems.push(`${label}: findings outside patch 2`);
}

/** (c): the kernel's own build of vmlinux in the slot the series was checked in. */
async function fullBuild(): Promise<{ ms: number; failed: boolean; symbols: string[] }> {
  const slot = await acquireSlot(repo, null, { cacheDir });
  try {
    const log = await gitOk(slot.src, [
      "log",
      "--format=%s",
      "-n",
      String(selected.patches.length),
    ]);
    console.log(`full build on:\n${log.replace(/^/gm, "  ")}`);
    const logPath = path.join(slot.logDir, "bench-vmlinux.log");
    const buildDir = path.join(slot.dir, "bench-vmlinux");
    const tmpDir = path.join(slot.dir, "bench-vmlinux.tmp");
    await rm(buildDir, { recursive: true, force: true });
    await copyTree(path.join(slot.buildRoot, "defconfig"), buildDir);
    await mkdir(tmpDir, { recursive: true });
    const started = Date.now();
    const result = await kbuildMake(
      {
        srcDir: slot.src,
        buildDir,
        tmpDir,
        logPath,
        limits: { ...DEFAULT_LIMITS, timeoutMs: 3 * 3600_000, diskBytes: 16 * 1024 ** 3 },
      },
      ["vmlinux"],
    );
    const ms = Date.now() - started;
    const text = await readFile(logPath, "utf8");
    const symbols = [
      ...new Set(
        [...text.matchAll(/undefined reference to `(__kvm_nvhe_\w+)'/g)].map((m) => m[1] ?? ""),
      ),
    ];
    console.log(`full build log: ${logPath}`);
    await rm(buildDir, { recursive: true, force: true });
    await rm(tmpDir, { recursive: true, force: true });
    return { ms, failed: result.exitCode !== 0, symbols };
  } finally {
    await slot.release();
  }
}

/**
 * The warm defconfig check of this benchmark as it was at `ref`, run from a worktree of
 * this repository on the same kernel tree: the figure (b) printed there, in ms.
 */
async function baselineWarm(ref: string): Promise<number> {
  const here = (await gitOk(".", ["rev-parse", "--show-toplevel"])).trim();
  const dir = await mkdtemp(path.join(cacheRoot(), "bench-baseline-"));
  try {
    await gitOk(here, ["worktree", "add", "--detach", dir, ref]);
    await symlink(path.join(here, "node_modules"), path.join(dir, "node_modules"));
    console.log(`(d) baseline: bench:check at ${ref} in ${dir}`);
    // Its own cache, made here: an older hypwatch may default to a cache that is not there.
    const cache = await mkdtemp(path.join(cacheRoot(), "bench-baseline-cache-"));
    const out = await run(
      "npx",
      ["tsx", "bench/check.ts", "--skip-full-build", "--tree", repo, "--mbox", values.mbox],
      { cwd: dir, timeoutMs: 3 * 3600_000, env: { HYPWATCH_CACHE: cache } },
    ).finally(() => rm(cache, { recursive: true, force: true }));
    const line = /^\(b\) warm series, defconfig\s+([\d.]+) s/m.exec(out.stdout);
    if (!line?.[1]) throw new Error(`no warm figure from ${ref}: ${out.stdout}${out.stderr}`);
    console.log(out.stdout.replace(/^/gm, "    "));
    return Number(line[1]) * 1000;
  } finally {
    await gitOk(here, ["worktree", "remove", "--force", dir]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

try {
  console.log(`bench:check on ${repo}, cache ${cacheDir}, load ${load()}`);
  const cold = await timedCheck("(a) cold audit, defconfig", ["defconfig"], false);
  const warm = await timedCheck("(b) warm series, defconfig", ["defconfig"], true);
  checkSeriesFindings("(b)", warm.result);
  const rebuilt = await timedCheck("    warm series, base rebuilt", ["defconfig"], true, false);
  checkSeriesFindings("(b) base rebuilt", rebuilt.result);
  const coldInstr = await timedCheck("    cold audit, instrumented", ["instrumented"], false);
  const warmBoth = await timedCheck(
    "    warm series, both configs",
    ["defconfig", "instrumented"],
    true,
  );
  checkSeriesFindings("(b) both configs", warmBoth.result);

  let full: Awaited<ReturnType<typeof fullBuild>> | null = null;
  if (!values["skip-full-build"]) {
    full = await fullBuild();
    console.log(
      `(c) make -j2 vmlinux                ${secs(full.ms).padStart(8)}  (${full.failed ? "failed" : "succeeded"}; ` +
        `undefined: ${full.symbols.join(", ") || "none"})`,
    );
    if (!full.failed || !full.symbols.includes("__kvm_nvhe__printk"))
      problems.push("(c): vmlinux did not fail on __kvm_nvhe__printk");
  }

  const baseline = values.baseline ? await baselineWarm(values.baseline) : null;
  if (baseline !== null)
    console.log(
      `(d) warm series, defconfig, at ${values.baseline} ${secs(baseline).padStart(8)}  (now ${secs(warm.ms)}: ` +
        `${warm.ms >= baseline ? "+" : ""}${secs(warm.ms - baseline)})`,
    );

  const mark = (ok: boolean) => (ok ? "met" : "MISSED");
  console.log("");
  console.log(
    `cold check ${secs(cold.ms)} (target <= ${TARGETS.coldSeconds} s: ${mark(cold.ms <= TARGETS.coldSeconds * 1000)}); ` +
      `cold instrumented ${secs(coldInstr.ms)}`,
  );
  console.log(
    `warm series ${secs(warm.ms)} defconfig (target <= ${TARGETS.warmSeconds} s: ${mark(warm.ms <= TARGETS.warmSeconds * 1000)}), ` +
      `${secs(rebuilt.ms)} with the base rebuilt, ${secs(warmBoth.ms)} both configs`,
  );
  if (full) {
    const ratio = full.ms / warm.ms;
    console.log(
      `full build ${secs(full.ms)} = ${ratio.toFixed(1)}x the warm check (target >= ${TARGETS.speedup}x: ${mark(ratio >= TARGETS.speedup)})`,
    );
  } else {
    console.log("full build skipped (--skip-full-build)");
  }
  for (const p of problems) console.log(`PROBLEM ${p}`);
  process.exitCode = problems.length > 0 ? 1 : 0;
} finally {
  if (!values.keep) {
    await rm(cacheDir, { recursive: true, force: true });
    await gitOk(repo, ["worktree", "prune"]);
  }
}
