/**
 * `npm run bench:attribution [-- --bug FILE --configs defconfig,instrumented --min-patches N]`
 *
 * How long a maintainer waits for a series with a finding to be attributed to its patch.
 * Every series of bench/latency-series.json (real kvmarm series that apply to
 * linux-source-6.1) with at least `--min-patches` patches gets a real bug shape
 * (`--bug`, a case of bench/real-bugs/: by default the nVHE alias of the per-CPU bases
 * dropped) put in halfway, as one more patch, and is checked twice in the same run, on a
 * base already built:
 *  - final-first (the default): the final state, then a bisection to the patch;
 *  - every step, in order: what attributing by building each patch costs.
 * Prints, for each, the time until the verdict was known (final state analyzed), the time
 * until it was attributed, the steps built, and the patch each named; then the maxima beside
 * the target (attribution within 5 minutes).
 */
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureTree, type BuildConfigName } from "../src/apply/index.js";
import { readConfig } from "../src/config.js";
import { checkSeries, type CheckProgress, type CheckRequest } from "../src/pipeline/check.js";
import { checkRequest } from "../src/pipeline/select.js";
import { editedFiles, loadMutationCases, PatchWorkspace } from "./mutation-cases.js";
import { RealSeries, type ListedSeries } from "./real-series.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    list: { type: "string", default: path.join(ROOT, "bench", "latency-series.json") },
    bug: {
      type: "string",
      default: path.join(ROOT, "bench", "real-bugs", "percpu-base-alias.json"),
    },
    "min-patches": { type: "string", default: "2" },
    configs: { type: "string", default: "defconfig,instrumented" },
  },
});
const TARGET_S = 300;
const say = (text: string) => process.stdout.write(`${text}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const real = await RealSeries.open(values.list, (all) =>
  all.filter((s) => s.patches.length >= Number(values["min-patches"])),
);
const series = real.series;
const configs = values.configs.split(",") as BuildConfigName[];
const config = readConfig();
const repo = await ensureTree({ tree: config.tree });
const [bug] = await loadMutationCases(path.dirname(values.bug), [
  path.basename(values.bug, ".json"),
]);
if (!bug || bug.patches.length !== 1 || bug.expect.length === 0)
  throw new Error(`${values.bug}: a case of one patch with a finding is wanted`);
const workspace = await PatchWorkspace.open(repo, editedFiles([bug]));

/** The series' check request with the bug's patch after patch `after`. */
async function requestWithBug(s: ListedSeries, after: number): Promise<CheckRequest> {
  const request = checkRequest(repo, await real.select(s, config), config, { configs });
  const prepared = await workspace.prepare(bug!);
  const patches = [...request.patches];
  patches.splice(after, 0, ...prepared.patches);
  return { ...request, patches };
}

interface Run {
  verdictMs: number;
  totalMs: number;
  built: number[];
  named: number[];
}

async function run(request: CheckRequest, steps: "final-first" | "every"): Promise<Run> {
  const started = Date.now();
  const final = request.patches.length;
  const built: number[] = [];
  let verdictAt: number | null = null;
  const onProgress = (e: CheckProgress) => {
    if (e.phase === "applying") return;
    // The final state is analyzed once any other step after it starts, or the check ends.
    if (built.includes(final) && e.step !== final) verdictAt ??= Date.now();
    if (e.phase === "built" && !built.includes(e.step)) built.push(e.step);
  };
  const result = await checkSeries({ ...request, steps, onProgress });
  const totalMs = Date.now() - started;
  const symbols = new Set(bug!.expect.map((e) => e.symbol));
  const named = [
    ...new Set(result.findings.filter((f) => symbols.has(f.symbol)).map((f) => f.introducedBy)),
  ];
  return { verdictMs: (verdictAt ?? Date.now()) - started, totalMs, built, named };
}

const rows: { s: ListedSeries; at: number; bisect: Run; every: Run }[] = [];
try {
  const first = series[0];
  if (!first) throw new Error(`${values.list}: no series of ${values["min-patches"]} patches`);
  // The base, built and stored once.
  const warm = await checkSeries(await requestWithBug(first, 0));
  say(
    `base ${warm.tree.baseCommit?.slice(0, 12)} ready (${secs(warm.timings.totalMs)}, not counted)`,
  );
  say(
    `configurations: ${configs.join(", ")}; bug: ${bug.name} (${bug.patches[0]?.subject}); load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
  );
  for (const s of series) {
    const at = Math.ceil(s.patches.length / 2);
    const request = await requestWithBug(s, at);
    const bisect = await run(request, "final-first");
    const every = await run(request, "every");
    rows.push({ s, at: at + 1, bisect, every });
    const steps = (r: Run) => r.built.filter((k) => k !== 0).join(",");
    say(
      `${String(request.patches.length).padStart(2)} patches, bug at ${at + 1}: ` +
        `final-first verdict ${secs(bisect.verdictMs)}, attributed ${secs(bisect.totalMs)} ` +
        `(steps ${steps(bisect)}; names patch ${bisect.named.join(",") || "none"}); ` +
        `every step ${secs(every.totalMs)} (names patch ${every.named.join(",") || "none"})  ` +
        `v${s.version} ${s.subject.slice(0, 50)}`,
    );
  }
} finally {
  await workspace.close();
  await real.close();
}

const max = (ms: number[]) => Math.max(0, ...ms) / 1000;
const wrong = rows.filter(
  (r) => r.bisect.named.join() !== String(r.at) || r.every.named.join() !== String(r.at),
);
say("");
say(`${rows.length} real kvmarm series on linux 6.1, each with ${bug.name} put in halfway`);
say(
  `final-first: verdict max ${max(rows.map((r) => r.bisect.verdictMs)).toFixed(1)} s, ` +
    `attributed max ${max(rows.map((r) => r.bisect.totalMs)).toFixed(1)} s, ` +
    `steps built ${rows.map((r) => r.bisect.built.filter((k) => k !== 0).length).join("/")}`,
);
say(
  `every step (baseline): max ${max(rows.map((r) => r.every.totalMs)).toFixed(1)} s, ` +
    `steps built ${rows.map((r) => r.every.built.filter((k) => k !== 0).length).join("/")}`,
);
say(
  `target: attributed within ${TARGET_S} s: ${max(rows.map((r) => r.bisect.totalMs)) <= TARGET_S ? "met" : "not met"}; ` +
    `named the bug's patch: ${rows.length - wrong.length} of ${rows.length}`,
);
process.exitCode = wrong.length > 0 ? 1 : 0;
