/**
 * `npm run bench:configs -- [--tree DIR] [--configs a,b,...] [--cache DIR] [--json FILE]`
 *
 * What each build configuration costs, measured with the checker's own build code
 * (`buildHyp`: sandboxed make of the hyp targets in a worktree slot), one configuration
 * after the other in one run:
 *  - cold: an empty build directory (configure: defconfig, the configuration's edits,
 *    olddefconfig; then make), the slot's worktree already checked out;
 *  - warm: the same build directory after touching one nVHE source (`--touch`), as a
 *    one-line patch to hyp code costs;
 *  - analysis: `analyzeModernBuild` of the warm build (every object read afresh).
 * Each figure is printed with the 1-minute load average before and after it: the machines
 * are small and shared, and a figure means little without it.
 * Its slot lives in a cache of its own (default `<cache>/configs-bench`), so test and
 * service caches are not disturbed.
 */
import { chmod, mkdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  acquireSlot,
  BUILD_CONFIGS,
  buildHyp,
  cacheRoot,
  ensureTree,
  resetSlot,
  type BuildConfigName,
  type HypBuildResult,
} from "../src/apply/index.js";
import { analyzeModernBuild } from "../src/check/index.js";
import { gitOk } from "../src/io/git.js";
import { readConfig } from "../src/config.js";

const ALL = Object.keys(BUILD_CONFIGS) as BuildConfigName[];
const { values } = parseArgs({
  options: {
    tree: { type: "string" },
    configs: { type: "string", default: ALL.join(",") },
    cache: { type: "string", default: path.join(cacheRoot(), "configs-bench") },
    touch: { type: "string", default: "arch/arm64/kvm/hyp/nvhe/switch.c" },
    json: { type: "string" },
  },
});

const configs = values.configs.split(",") as BuildConfigName[];
for (const c of configs)
  if (!ALL.includes(c)) throw new Error(`unknown configuration ${c} (known: ${ALL.join(", ")})`);

const load1 = () => loadavg()[0] ?? 0;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Objects make compiled (`CC`/`AS` lines of the build log). */
async function compiledCount(result: HypBuildResult): Promise<number> {
  const log = await readFile(result.logPath, "utf8").catch(() => "");
  return log.split("\n").filter((l) => /^\s+(CC|AS)\s/.test(l)).length;
}

interface Figure {
  ms: number;
  makeMs: number;
  compiled: number;
  ok: boolean;
  loadBefore: number;
  loadAfter: number;
  /** What the configuration asked Kconfig for and did not get. */
  unavailable: string[];
  requested: number;
}

async function timedBuild(
  slot: Awaited<ReturnType<typeof acquireSlot>>,
  config: BuildConfigName,
): Promise<Figure> {
  const loadBefore = load1();
  const started = Date.now();
  const result = await buildHyp(slot, config);
  return {
    ms: Date.now() - started,
    makeMs: result.durationMs,
    compiled: await compiledCount(result),
    ok: result.ok,
    loadBefore,
    loadAfter: load1(),
    unavailable: result.configReport.unavailable,
    requested: result.configReport.requested.length,
  };
}

const repo = await ensureTree({ tree: values.tree ?? readConfig().tree });
const cacheDir = values.cache;
await mkdir(cacheDir, { recursive: true });
// Builds run as an unprivileged uid that must reach the slots below it.
await chmod(cacheDir, 0o755);
const head = (await gitOk(repo, ["rev-parse", "HEAD"])).trim();
const slot = await acquireSlot(repo, head, { cacheDir, maxSlots: 1 });
const rows: {
  config: BuildConfigName;
  cold: Figure;
  warm: Figure;
  analyzeMs: number;
  /** Findings of the clean tree: anything but 0 is noise the configuration would bring. */
  findings: number;
}[] = [];
try {
  await resetSlot(slot, head);
  console.log(
    `tree ${repo} at ${head.slice(0, 12)}; slot ${slot.dir}; ${configs.length} config(s)`,
  );
  for (const config of configs) {
    await rm(path.join(slot.buildRoot, config), { recursive: true, force: true });
    await rm(path.join(slot.buildRoot, `${config}.stamp.json`), { force: true });
    const cold = await timedBuild(slot, config);
    const now = new Date();
    await utimes(path.join(slot.src, values.touch), now, now);
    const warm = await timedBuild(slot, config);
    const started = Date.now();
    const findings = await analyzeModernBuild({
      srcDir: slot.src,
      buildDir: path.join(slot.buildRoot, config),
      config,
    });
    const analyzeMs = Date.now() - started;
    rows.push({ config, cold, warm, analyzeMs, findings: findings.length });
    const fig = (f: Figure) =>
      `${secs(f.ms)} (make ${secs(f.makeMs)}, ${f.compiled} CC/AS${f.ok ? "" : ", FAILED"}; ` +
      `load ${f.loadBefore.toFixed(1)} -> ${f.loadAfter.toFixed(1)})`;
    console.log(`${config.padEnd(20)} cold ${fig(cold)}`);
    console.log(
      `${"".padEnd(20)} Kconfig kept ${cold.requested - cold.unavailable.length} of the ${cold.requested} options asked` +
        (cold.unavailable.length > 0 ? `; not: ${cold.unavailable.join(" ")}` : ""),
    );
    console.log(
      `${"".padEnd(20)} warm ${fig(warm)}; analysis ${secs(analyzeMs)}, ${findings.length} finding(s)`,
    );
    for (const f of findings.slice(0, 5))
      console.log(`${"".padEnd(25)}${f.rule} ${f.symbol} ${f.object}`);
  }
} finally {
  await slot.release();
}

console.log(
  "\n| configuration | cold | load | warm (touch one nVHE .c) | load | analysis | findings |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const { config, cold, warm, analyzeMs, findings } of rows) {
  const l = (f: Figure) => `${f.loadBefore.toFixed(1)} -> ${f.loadAfter.toFixed(1)}`;
  console.log(
    `| \`${config}\` | ${secs(cold.ms)}${cold.ok ? "" : " (failed)"} | ${l(cold)} | ` +
      `${secs(warm.ms)}${warm.ok ? "" : " (failed)"} | ${l(warm)} | ${secs(analyzeMs)} | ${findings} |`,
  );
}
if (values.json)
  await writeFile(values.json, JSON.stringify({ head, touch: values.touch, rows }, null, 2) + "\n");
