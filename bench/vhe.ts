/**
 * `npm run bench:vhe [-- --series 13,15 --rounds 3]`
 *
 * What compiling the VHE objects costs a verdict: the final state of real series of
 * bench/latency-series.json (by index; 13 is the one-patch "Always mask CCSIDR associativity
 * bits", 15 the 7-patch "Normalize cache configuration"), built after its base in the
 * series area as a verdict builds it, in `defconfig` and `instrumented`:
 *  - the targets hypwatch builds (`HYP_TARGETS`: the nVHE directory and `vmlinux.lds`);
 *  - the same and the VHE directory (`arch/arm64/kvm/hyp/vhe/`), as `defconfig` built
 *    before (the baseline); `instrumented` built the nVHE targets only either way.
 * One slot, base built once; each round builds the final state both ways in a fresh copy of
 * the base build directories, the order alternating from round to round. Prints each build's
 * make time, and each way's total.
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
  HYP_TARGETS,
  resetSlot,
  startSeriesArea,
  type BuildConfigName,
  type Slot,
} from "../src/apply/index.js";
import { buildScratch } from "./build-scratch.js";
import { RealSeries } from "./real-series.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    list: { type: "string", default: path.join(ROOT, "bench", "latency-series.json") },
    series: { type: "string", default: "13,15" },
    rounds: { type: "string", default: "3" },
  },
});
const say = (text: string) => process.stdout.write(`${text}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const real = await RealSeries.byIndex(values.list, values.series);
const rounds = Number(values.rounds);
const NVHE = [...HYP_TARGETS.modern];
const ways = [
  { name: "nVHE", defconfig: NVHE },
  { name: "nVHE + VHE", defconfig: [...NVHE, "arch/arm64/kvm/hyp/vhe/"] },
];
const configs: BuildConfigName[] = ["defconfig", "instrumented"];
const targetsOf = (way: (typeof ways)[number], config: BuildConfigName) =>
  config === "defconfig" ? way.defconfig : NVHE;

const { config, repo, base, scratch } = await buildScratch("bench-vhe-");
let slot: Slot | undefined;

try {
  slot = await acquireSlot(repo, base, { cacheDir: scratch });
  await resetSlot(slot, base);
  // The base holds the VHE objects too, so that the baseline rebuilds only what changed.
  let baseMs = 0;
  for (const name of configs) {
    const built = await buildHyp(slot, name, { targets: targetsOf(ways[1]!, name) });
    if (!built.ok) throw new Error(`base build failed: ${built.logPath}`);
    baseMs += built.durationMs;
  }
  say(`base ${base.slice(0, 12)} built cold: ${secs(baseMs)}`);
  say(`round  ${ways.map((w) => w.name.padStart(24)).join("  ")}`);
  const totals = ways.map(() => 0);
  for (const series of real.series) {
    const selected = await real.select(series, config);
    // Back to the base its build directories hold, without dating them stale.
    await resetSlot(slot, base, { asBuilt: true });
    const applied = await applySeries(slot.src, selected.patches);
    if (!applied.complete) throw new Error(`${series.subject}: does not apply to ${base}`);
    const final = applied.patches.at(-1);
    if (!final?.applied) throw new Error(`${series.subject}: no final commit`);
    say(`${series.subject} (${applied.patches.length} patches)`);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      const cells = ways.map(() => "");
      for (const w of order) {
        const way = ways[w]!;
        await startSeriesArea(slot);
        await checkoutInSlot(slot, final.commit);
        const times: number[] = [];
        for (const name of configs) {
          const built = await buildHyp(slot, name, {
            area: "series",
            targets: targetsOf(way, name),
          });
          if (!built.ok) throw new Error(`${way.name}: ${name} failed: ${built.logPath}`);
          times.push(built.durationMs);
        }
        await endSeriesArea(slot);
        const sum = times.reduce((a, b) => a + b, 0);
        totals[w] = (totals[w] ?? 0) + sum;
        cells[w] = `${secs(sum)} (${times.map(secs).join(" + ")})`;
      }
      say(`${String(round + 1).padStart(5)}  ${cells.map((c) => c.padStart(24)).join("  ")}`);
    }
  }
  say(`${"all".padStart(5)}  ${totals.map((t) => secs(t).padStart(24)).join("  ")}`);
  const [nvhe, both] = totals;
  if (nvhe !== undefined && both)
    say(
      `the VHE objects: ${(((both - nvhe) / both) * 100).toFixed(0)}% of the baseline's make time`,
    );
} finally {
  if (slot) {
    await endSeriesArea(slot);
    await slot.release();
  }
  await rm(scratch, { recursive: true, force: true });
  await real.close();
}
