/**
 * `npm run fuzz`: generated cases over mbox splitting, MIME parsing, subject parsing, patch
 * extraction and series assembly, then every file of Patchwork's fuzz corpus through
 * `scanSource`. Cases run on a worker thread watched from here: a case over the time bound
 * is a hang (the worker is stopped and a new one goes on after it), a throw or a dead worker
 * is a crash. Prints cases, crashes, hangs and peak RSS; exits 1 on any crash or hang.
 *
 *   npm run fuzz -- [--cases 100000] [--seed 1] [--case-ms 5000]
 */
import { readdir } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { configSchema } from "../src/config.js";
import { scanSource } from "../src/pipeline/scan.js";
import { corpusPath } from "../test/corpus.js";
import { FUZZ_KINDS, casesOf, runCase, type FuzzKind } from "./fuzz-cases.js";

interface Job {
  kind: FuzzKind | "corpus";
  seed: number;
  count: number;
  /** First case to run (after a hang, the one after it). */
  from: number;
  files: string[];
}

type Report =
  | { type: "start"; index: number }
  | { type: "crash"; index: number; error: string }
  | { type: "done" };

/** Worker side: run the job's cases in order, saying when each starts. */
async function work(job: Job, port: NonNullable<typeof parentPort>): Promise<void> {
  const config = configSchema.parse({});
  const cases = job.kind === "corpus" ? job.files : casesOf(job.kind, job.seed, job.count);
  for (let index = job.from; index < cases.length; index++) {
    port.postMessage({ type: "start", index } satisfies Report);
    try {
      if (job.kind === "corpus") await scanSource(cases[index] as string, config, { workers: 0 });
      else await runCase(job.kind, cases[index]);
    } catch (error) {
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
      port.postMessage({ type: "crash", index, error: text } satisfies Report);
    }
  }
  port.postMessage({ type: "done" } satisfies Report);
}

/** A worker running this file under tsx (worker threads do not inherit module hooks). */
function startWorker(job: Job): Worker {
  const tsx = pathToFileURL(
    path.join(
      path.dirname(createRequire(import.meta.url).resolve("tsx/package.json")),
      "dist/esm/api/index.mjs",
    ),
  ).href;
  const self = import.meta.url;
  return new Worker(
    `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(self)}); });`,
    { eval: true, workerData: job, resourceLimits: { maxOldGenerationSizeMb: 512 } },
  );
}

interface Tally {
  cases: number;
  crashes: string[];
  hangs: string[];
}

/** Run one job to its end, restarting the worker after a hang or a death. */
async function runJob(job: Job, caseMs: number, tally: Tally): Promise<void> {
  let from = job.from;
  const total = job.kind === "corpus" ? job.files.length : job.count;
  while (from < total) {
    from = await new Promise<number>((resolve) => {
      const worker = startWorker({ ...job, from });
      let current = from - 1;
      let timer: NodeJS.Timeout | undefined;
      const finish = (next: number) => {
        clearTimeout(timer);
        void worker.terminate();
        resolve(next);
      };
      const name = (index: number) =>
        job.kind === "corpus"
          ? (job.files[index] ?? "?")
          : `${job.kind} seed ${job.seed} case ${index}`;
      worker.on("message", (report: Report) => {
        if (report.type === "start") {
          current = report.index;
          tally.cases++;
          clearTimeout(timer);
          timer = setTimeout(() => {
            tally.hangs.push(name(current));
            finish(current + 1);
          }, caseMs);
        } else if (report.type === "crash") {
          tally.crashes.push(
            `${name(report.index)}: ${report.error.split("\n").slice(0, 3).join(" | ")}`,
          );
        } else finish(total);
      });
      worker.on("error", (error) => {
        tally.crashes.push(`${name(current)}: worker died: ${error.message}`);
        finish(current + 1);
      });
    });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cases: { type: "string", default: "100000" },
      seed: { type: "string", default: "1" },
      "case-ms": { type: "string", default: "5000" },
    },
  });
  const cases = Number(values.cases);
  const seed = Number(values.seed);
  const caseMs = Number(values["case-ms"]);
  const tally: Tally = { cases: 0, crashes: [], hangs: [] };
  const started = Date.now();
  const perKind: Record<string, number> = {};
  // Slices of a few thousand cases: a restart after a hang regenerates only its slice.
  const slice = 2000;
  for (const [k, kind] of FUZZ_KINDS.entries()) {
    const count = Math.ceil(cases / FUZZ_KINDS.length);
    const before = tally.cases;
    for (let done = 0; done < count; done += slice) {
      const n = Math.min(slice, count - done);
      await runJob(
        { kind, seed: seed * 1000 + k * 100 + done / slice, count: n, from: 0, files: [] },
        caseMs,
        tally,
      );
    }
    perKind[kind] = tally.cases - before;
    process.stderr.write(`fuzz: ${kind} ${perKind[kind]} cases\n`);
  }
  const dir = corpusPath("patchwork", "fuzz");
  const files = (await readdir(dir)).sort().map((name) => path.join(dir, name));
  const before = tally.cases;
  await runJob({ kind: "corpus", seed: 0, count: files.length, from: 0, files }, caseMs, tally);
  perKind["patchwork fuzz corpus"] = tally.cases - before;

  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  for (const crash of tally.crashes) process.stdout.write(`crash: ${crash}\n`);
  for (const hang of tally.hangs) process.stdout.write(`hang (over ${caseMs} ms): ${hang}\n`);
  process.stdout.write(
    `${JSON.stringify({
      cases: tally.cases,
      perKind,
      crashes: tally.crashes.length,
      hangs: tally.hangs.length,
      caseBoundMs: caseMs,
      peakRssMb: Math.round(peakRssMb),
      seconds: Math.round((Date.now() - started) / 1000),
    })}\n`,
  );
  if (tally.crashes.length > 0 || tally.hangs.length > 0) process.exitCode = 1;
}

if (isMainThread) await main();
else if (parentPort) await work(workerData as Job, parentPort);
