/**
 * `npm run bench:ingest [-- --source DIR --threads N --limit N --no-baseline]`
 *
 * Reads a public-inbox archive (the kvmarm corpus by default), parses, threads and
 * assembles series, and prints messages/second and peak RSS. Then runs the baseline,
 * `bench/ingest_baseline.py` (Python's `email` package, as b4 and Patchwork use it), on the
 * same archive and prints both side by side.
 */
import { availableParallelism, loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { z } from "zod";
import { corpusPath } from "../test/corpus.js";
import { readSource, detectSource, type RawMail, type SourceError } from "../src/intake/index.js";
import { parseMails } from "../src/intake/parsePool.js";
import { run } from "../src/io/exec.js";
import { openGitDir } from "../src/io/git-archive.js";
import { SeriesAssembler } from "../src/series/index.js";

const TARGET_RATE = 1500;
const TARGET_RATIO = 2;
const TARGET_RSS_MB = 400;

const { values } = parseArgs({
  options: {
    source: { type: "string", default: corpusPath("kvmarm-0.git") },
    threads: { type: "string", default: String(availableParallelism()) },
    limit: { type: "string", default: "0" },
    "no-baseline": { type: "boolean", default: false },
  },
});
const source = values.source;
const threads = Number(values.threads);
const limit = Number(values.limit);

async function* limited(mails: AsyncIterable<RawMail>): AsyncGenerator<RawMail> {
  let count = 0;
  for await (const mail of mails) {
    yield mail;
    if (limit > 0 && ++count >= limit) return;
  }
}

const mb = (kb: number): number => Math.round(kb / 1024);

async function ours(): Promise<{
  messages: number;
  errors: number;
  series: number;
  relevant: number;
  seconds: number;
  cpuSeconds: number;
  maxRssMb: number;
}> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const assembler = new SeriesAssembler();
  let messages = 0;
  let errors = 0;
  // A message that cannot be read (a blob missing from the mirror) is named and counted, as
  // scan does, and the run goes on.
  const onError = (error: SourceError): void => {
    errors++;
    console.error(`hypwatch: ${error.message}`);
  };
  for await (const parsed of parseMails(limited(readSource(source, { onError })), {
    output: "summary",
    threads,
  })) {
    messages++;
    if (parsed.ok) assembler.addSummary(parsed.value);
    else errors++;
  }
  const series = assembler.finish();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    messages,
    errors,
    series: series.length,
    relevant: series.filter((s) => s.relevant).length,
    seconds,
    cpuSeconds: (used.user + used.system) / 1e6,
    maxRssMb: mb(process.resourceUsage().maxRSS),
  };
}

const Baseline = z.object({
  messages: z.number(),
  errors: z.number(),
  deleted: z.number(),
  seconds: z.number(),
  cpuSeconds: z.number(),
  maxRssKb: z.number(),
  childrenMaxRssKb: z.number(),
  python: z.string(),
});

async function baseline(): Promise<z.infer<typeof Baseline>> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "ingest_baseline.py");
  const epoch = await openGitDir(source);
  try {
    const result = await run("python3", [script, epoch.gitDir, "HEAD", String(limit)]);
    if (result.exitCode !== 0) throw new Error(`baseline failed: ${result.stderr.trim()}`);
    return Baseline.parse(JSON.parse(result.stdout));
  } finally {
    await epoch.close();
  }
}

const load = (): string =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(" ");

console.log(`source   ${source}`);
console.log(`cores    ${availableParallelism()}, parse threads ${threads}, load ${load()}`);
const mine = await ours();
console.log(
  `hypwatch ${mine.messages} messages (${mine.errors} unreadable or unparseable) -> ${mine.series} series ` +
    `(${mine.relevant} arm64 KVM) in ${mine.seconds.toFixed(2)} s, cpu ${mine.cpuSeconds.toFixed(2)} s`,
);
const rate = mine.messages / mine.seconds;
const rows: string[][] = [["", "msgs/s", "wall s", "cpu s", "peak RSS MB"]];
rows.push([
  "hypwatch (read+parse+thread+assemble)",
  rate.toFixed(0),
  mine.seconds.toFixed(2),
  mine.cpuSeconds.toFixed(2),
  String(mine.maxRssMb),
]);
let ratio: number | null = null;
if (values["no-baseline"] || (await detectSource(source)) !== "public-inbox") {
  console.log("baseline skipped");
} else {
  console.log(`baseline running (load ${load()})`);
  const base = await baseline();
  const baseRate = base.messages / base.seconds;
  ratio = rate / baseRate;
  rows.push([
    `python ${base.python} email (read+parse)`,
    baseRate.toFixed(0),
    base.seconds.toFixed(2),
    base.cpuSeconds.toFixed(2),
    `${mb(base.maxRssKb)} (git children ${mb(base.childrenMaxRssKb)})`,
  ]);
  console.log(`python   ${base.messages} messages (${base.errors} unparseable)`);
}
const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length))) ?? [];
for (const row of rows) {
  console.log(
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join("  "),
  );
}
const verdict = (ok: boolean): string => (ok ? "met" : "NOT met");
if (ratio !== null) {
  console.log(
    `ratio    ${ratio.toFixed(2)}x the baseline (target >= ${TARGET_RATIO}x: ${verdict(ratio >= TARGET_RATIO)})`,
  );
}
console.log(
  `rate     ${rate.toFixed(0)} msgs/s (target >= ${TARGET_RATE}: ${verdict(rate >= TARGET_RATE)})`,
);
console.log(
  `memory   ${mine.maxRssMb} MB peak RSS (target <= ${TARGET_RSS_MB}: ${verdict(mine.maxRssMb <= TARGET_RSS_MB)})`,
);
console.log(`load     ${load()} at the end`);
