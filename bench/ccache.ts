/**
 * `npm run bench:ccache [-- --series 15,12 --configs defconfig,instrumented --verdict]`
 * (needs Debian's `ccache`)
 *
 * What Debian's ccache saves where hypwatch builds a series: real series of
 * bench/latency-series.json (by index; 15 is the 7-patch "Normalize cache configuration")
 * applied on linux-source-6.1. The base is built in each configuration, as a slot's base
 * builds are (the cache filled by them), then each patch of a series in turn in the series
 * area, as a check builds them (the cache read-only); with `--verdict`, only the final
 * state, as a verdict builds it. Twice, in the same run, in two slot pools of the bench's
 * own:
 *  - without ccache (the baseline);
 *  - with ccache, as hypwatch builds when it is installed.
 * Each step is built both ways before the next, so that both see the same machine. Prints
 * each step's make time both ways, ccache's hits and misses, and each way's total.
 */
import { rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  acquireSlot,
  applySeries,
  buildHyp,
  checkoutInSlot,
  endSeriesArea,
  resetSlot,
  startSeriesArea,
  type BuildConfigName,
  type Slot,
} from "../src/apply/index.js";
import { ccacheInstalled } from "../src/io/kbuild.js";
import { buildScratch } from "./build-scratch.js";
import { RealSeries } from "./real-series.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    list: { type: "string", default: path.join(ROOT, "bench", "latency-series.json") },
    series: { type: "string", default: "15" },
    configs: { type: "string", default: "defconfig,instrumented" },
    // Only the series' final state after its base, as a verdict builds it.
    verdict: { type: "boolean", default: false },
  },
});
const say = (text: string) => process.stdout.write(`${text}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

if (!(await ccacheInstalled())) throw new Error("ccache is not installed (apt-get install ccache)");
const real = await RealSeries.byIndex(values.list, values.series);
const configs = values.configs.split(",") as BuildConfigName[];
const { config, repo, base, scratch } = await buildScratch("bench-ccache-");
const ways = [
  { name: "without ccache", compilerCache: false },
  { name: "with ccache", compilerCache: true },
];
const slots: Slot[] = [];

try {
  for (const way of ways)
    slots.push(
      await acquireSlot(repo, base, {
        cacheDir: path.join(scratch, way.compilerCache ? "cached" : "plain"),
        compilerCache: way.compilerCache,
      }),
    );
  // The base of each way, built cold in the slot's base area (filling the cache).
  const baseMs = [0, 0];
  for (const [w, slot] of slots.entries()) {
    await resetSlot(slot, base);
    for (const name of configs) {
      const built = await buildHyp(slot, name);
      if (!built.ok) throw new Error(`${ways[w]?.name}: base build failed: ${built.logPath}`);
      baseMs[w] = (baseMs[w] ?? 0) + built.durationMs;
    }
  }
  say(`base ${base.slice(0, 12)}, ${configs.join(", ")}`);
  say(`built cold: ${secs(baseMs[0] ?? 0)} without ccache, ${secs(baseMs[1] ?? 0)} with it`);
  say(`patch  ${ways.map((w) => w.name.padStart(14)).join("  ")}  ccache hits/misses`);
  const totals = [0, 0];
  for (const series of real.series) {
    const selected = await real.select(series, config);
    // Each slot's worktree gets the same commits: `git am` on the same base, same mails.
    const commits: string[][] = [];
    for (const slot of slots) {
      // Back to the base its build directories hold, without dating them stale.
      await resetSlot(slot, base, { asBuilt: true });
      const applied = await applySeries(slot.src, selected.patches);
      if (!applied.complete) throw new Error(`${series.subject}: does not apply to ${base}`);
      commits.push(applied.patches.flatMap((p) => (p.applied ? [p.commit] : [])));
      await startSeriesArea(slot);
    }
    const patches = commits[0]?.length ?? 0;
    say(`${series.subject} (${patches} patches)`);
    const steps = values.verdict ? [patches] : Array.from({ length: patches }, (_, i) => i + 1);
    for (const step of steps) {
      const times: number[] = [];
      const counts = { hits: 0, misses: 0 };
      for (const [w, slot] of slots.entries()) {
        const commit = commits[w]?.[step - 1];
        if (!commit) throw new Error(`no commit for patch ${step}`);
        await checkoutInSlot(slot, commit);
        let ms = 0;
        for (const name of configs) {
          const built = await buildHyp(slot, name, { area: "series" });
          if (!built.ok)
            throw new Error(`${ways[w]?.name}: patch ${step} failed: ${built.logPath}`);
          ms += built.durationMs;
          counts.hits += built.compilerCache?.hits ?? 0;
          counts.misses += built.compilerCache?.misses ?? 0;
        }
        times.push(ms);
        totals[w] = (totals[w] ?? 0) + ms;
      }
      say(
        `${String(step).padStart(5)}  ${times.map((t) => secs(t).padStart(14)).join("  ")}  ${counts.hits}/${counts.misses}`,
      );
    }
    for (const slot of slots) await endSeriesArea(slot);
  }
  say(`${"all".padStart(5)}  ${totals.map((t) => secs(t).padStart(14)).join("  ")}`);
} finally {
  for (const slot of slots) {
    await endSeriesArea(slot);
    await slot.release();
  }
  await rm(scratch, { recursive: true, force: true });
  await real.close();
}
