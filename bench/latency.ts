/**
 * `npm run bench:latency [-- --skip N --limit N --configs defconfig,instrumented]`
 *
 * How long a maintainer waits for a verdict on real series: every series of
 * bench/latency-series.json (real kvmarm series that apply to linux-source-6.1, found by
 * `npm run series:applicable`), read from the corpus archive and checked as `hypwatch
 * check` checks it, on a base already built (the first check builds and stores it, and is
 * not counted). Each series is checked three times in the same run:
 *  - final-first (the default): the verdict from the base and the final state; the steps
 *    between are built only to attribute findings;
 *  - final-first with its configurations built side by side (`build.configsSideBySide`),
 *    sharing make's jobs;
 *  - every step, in order (how checks ran before final-first): what a full per-patch
 *    attribution costs.
 * Prints each series' times and verdict, then p50, p95 and max of each, beside the targets
 * (verdict p95 under 60 s, none over 120 s; per-patch attribution within 5 minutes).
 */
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureTree, type BuildConfigName } from "../src/apply/index.js";
import { readConfig } from "../src/config.js";
import { checkSeries, type CheckResult } from "../src/pipeline/check.js";
import { classifyResult } from "../src/pipeline/check-revision.js";
import { checkRequest } from "../src/pipeline/select.js";
import { RealSeries, type ListedSeries } from "./real-series.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    list: { type: "string", default: path.join(ROOT, "bench", "latency-series.json") },
    skip: { type: "string", default: "0" },
    limit: { type: "string" },
    configs: { type: "string", default: "defconfig,instrumented" },
  },
});
const TARGETS = { verdictP95: 60, verdictMax: 120, attributionMax: 300 };
const say = (text: string) => process.stdout.write(`${text}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const skip = Number(values.skip);
const real = await RealSeries.open(values.list, (all) =>
  all.slice(skip, values.limit ? skip + Number(values.limit) : undefined),
);
const series = real.series;
const configs = values.configs.split(",") as BuildConfigName[];

const config = readConfig();
const repo = await ensureTree({ tree: config.tree });

async function check(
  s: ListedSeries,
  steps: "final-first" | "every",
  sideBySide = 1,
): Promise<CheckResult> {
  const selected = await real.select(s, config);
  return checkSeries({ ...checkRequest(repo, selected, config, { configs }), steps, sideBySide });
}

interface Row {
  series: ListedSeries;
  kind: string;
  findings: number;
  finalFirstMs: number;
  sideBySideMs: number;
  everyMs: number;
  builtFinalFirst: number;
}
const rows: Row[] = [];
try {
  // The base, built and stored once (a service has it built long before a series arrives).
  const first = series[0];
  if (!first) throw new Error(`${values.list}: no series`);
  const warm = await check(first, "final-first");
  say(
    `base ${warm.tree.baseCommit?.slice(0, 12)} ready (${secs(warm.timings.totalMs)}, not counted)`,
  );
  say(
    `configurations: ${configs.join(", ")}; load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
  );
  say(
    "final-first  side by side  every step  (each series checked in the three ways, in that order)",
  );
  for (const s of series) {
    const finalFirst = await check(s, "final-first");
    const sideBySide = await check(s, "final-first", configs.length);
    const every = await check(s, "every");
    const { kind } = classifyResult(finalFirst);
    const agree =
      classifyResult(every).kind === kind ? "" : `  (every step: ${classifyResult(every).kind})`;
    const built = finalFirst.patches.filter((p) => p.changesHypBuild !== false).length;
    rows.push({
      series: s,
      kind,
      findings: finalFirst.findings.length,
      finalFirstMs: finalFirst.timings.totalMs,
      sideBySideMs: sideBySide.timings.totalMs,
      everyMs: every.timings.totalMs,
      builtFinalFirst: built,
    });
    say(
      `${secs(finalFirst.timings.totalMs).padStart(8)} ${secs(sideBySide.timings.totalMs).padStart(8)} ${secs(every.timings.totalMs).padStart(8)}  ` +
        `${String(s.patches.length).padStart(2)} patches  ${kind}${agree}  v${s.version} ${s.subject.slice(0, 60)}` +
        `  (final-first: builds ${secs(finalFirst.timings.buildMs)}, analysis ${secs(finalFirst.timings.analyzeMs)})`,
    );
  }
} finally {
  await real.close();
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
function summary(name: string, ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b);
  return `${name.padEnd(24)} p50 ${secs(quantile(sorted, 0.5)).padStart(8)}  p95 ${secs(quantile(sorted, 0.95)).padStart(8)}  max ${secs(sorted.at(-1) ?? 0).padStart(8)}`;
}
say("");
say(`${rows.length} real kvmarm series on linux 6.1 (${values.list})`);
say(
  summary(
    "final-first (verdict)",
    rows.map((r) => r.finalFirstMs),
  ),
);
say(
  summary(
    "final-first, side by side",
    rows.map((r) => r.sideBySideMs),
  ),
);
say(
  summary(
    "every step (baseline)",
    rows.map((r) => r.everyMs),
  ),
);
const finalSorted = rows.map((r) => r.finalFirstMs / 1000).sort((a, b) => a - b);
const everyMax = Math.max(0, ...rows.map((r) => r.everyMs / 1000));
say(
  `targets: verdict p95 < ${TARGETS.verdictP95} s: ${quantile(finalSorted, 0.95) < TARGETS.verdictP95 ? "met" : "not met"}; ` +
    `none over ${TARGETS.verdictMax} s: ${(finalSorted.at(-1) ?? 0) <= TARGETS.verdictMax ? "met" : "not met"}; ` +
    `attribution of every step within ${TARGETS.attributionMax} s: ${everyMax <= TARGETS.attributionMax ? "met" : "not met"}`,
);
