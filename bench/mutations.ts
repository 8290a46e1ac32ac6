/**
 * `npm run bench:mutations -- [--cases DIR] [--tree DIR] [--cache DIR] [--only a,b] [--json FILE] [--results DIR] [--compiler gcc|clang]`
 *
 * The mutation benchmark: every case of `bench/mutations/` is made into real mails on the
 * tree's HEAD, checked by `checkSeries` as the service checks it (the verdict, then every step
 * when the verdict left steps unbuilt), and built a second time step by step for the
 * toolchain's own verdict (`bench/toolchain-truth.ts`). A case passes when the toolchain
 * agrees with the case's expectation and hypwatch reports exactly the expected findings:
 * rule, symbol, patch, file and line. Prints a table (with each case's findings and the
 * causes they group into) and totals; exits 1 on any mismatch. `--results DIR` keeps each
 * case's check JSON as `<case>.check.json` and its mails as `<case>.<k>.patch`.
 *
 * `npm run bench:real-bugs` runs the cases of `bench/real-bugs/` the same way: bugs taken
 * from kernel history, each re-introduced on linux 6.1, and real clean changes as controls.
 * Each case is judged found, wrong place, missed or unseen (its option off in every
 * configuration built), each control clean or false alarm.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { buildSeries, cacheRoot, ensureTree, type BuildConfigName } from "../src/apply/index.js";
import { readConfig } from "../src/config.js";
import { checkSeries } from "../src/pipeline/check.js";
import { classifyResult, stepsDue, transientPart } from "../src/pipeline/check-revision.js";
import {
  PatchWorkspace,
  editedFiles,
  expectationsFor,
  loadMutationCases,
  type PreparedCase,
} from "./mutation-cases.js";
import { compareCase, verdictText, type CaseOutcome } from "./mutation-verdict.js";
import { readBuildEvidence, truthOfSteps, type BuildEvidence } from "./toolchain-truth.js";

const { values } = parseArgs({
  options: {
    cases: { type: "string" },
    tree: { type: "string" },
    cache: { type: "string", default: path.join(cacheRoot(), "bench-mut") },
    only: { type: "string", default: "" },
    json: { type: "string" },
    results: { type: "string" },
    // `clang`: every case in the clang configurations instead of the gcc ones.
    compiler: { type: "string", default: "gcc" },
  },
});
const compiler = values.compiler;
if (compiler !== "gcc" && compiler !== "clang")
  throw new Error(`--compiler is gcc or clang, not ${compiler}`);
const inCompiler = (configs: readonly BuildConfigName[]): BuildConfigName[] =>
  configs.map((c) =>
    compiler === "clang" && !c.startsWith("clang-") ? (`clang-${c}` as BuildConfigName) : c,
  );

const repo = await ensureTree({ tree: values.tree ?? readConfig().tree, cacheDir: values.cache });
const cases = await loadMutationCases(
  values.cases,
  values.only ? values.only.split(",").map((s) => s.trim()) : [],
);
const workspace = await PatchWorkspace.open(repo, editedFiles(cases));

async function runCase(asWritten: PreparedCase): Promise<CaseOutcome> {
  const prepared = { ...asWritten, configs: inCompiler(asWritten.configs) };
  const started = Date.now();
  const request = {
    repo,
    patches: prepared.patches,
    baseCommit: prepared.base,
    configs: prepared.configs,
    cacheDir: values.cache,
  };
  // As the service answers: the verdict, then the steps it left unbuilt, in the background.
  const verdict = await checkSeries(request);
  const checkMs = Date.now() - started;
  let result = verdict;
  if (stepsDue({ kind: classifyResult(verdict).kind, result: verdict })) {
    const steps = transientPart(
      await checkSeries({ ...request, base: verdict.tree.baseCommit, steps: "every" }),
    );
    result = {
      ...verdict,
      findings: [...verdict.findings, ...steps.findings],
      causes: [...(verdict.causes ?? []), ...(steps.causes ?? [])],
    };
  }
  if (values.results) {
    await mkdir(values.results, { recursive: true });
    const file = path.join(values.results, `${prepared.case.name}.check.json`);
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    // The mails too: causes are found in the patches' lines.
    for (const [i, p] of prepared.patches.entries())
      await writeFile(path.join(values.results, `${prepared.case.name}.${i + 1}.patch`), p.mail);
  }
  const evidence = new Map<string, BuildEvidence[]>(prepared.configs.map((c) => [c, []]));
  const built = await buildSeries(repo, prepared.patches, {
    baseCommit: prepared.base,
    configs: prepared.configs,
    pool: { cacheDir: values.cache },
    everyStep: true,
    onStep: async (step) => {
      for (const b of step.builds) {
        if (!b.ok)
          throw new Error(`${b.config} build failed at step ${step.applied}: ${b.logPath}`);
        evidence.get(b.config)?.push(await readBuildEvidence(b.buildDir));
      }
    },
  });
  if (built.apply?.complete !== true)
    throw new Error("the series did not apply for the truth build");
  const truth = new Map([...evidence].map(([config, steps]) => [config, truthOfSteps(steps)]));
  return compareCase(prepared, truth, result, { checkMs, totalMs: Date.now() - started });
}

const outcomes: CaseOutcome[] = [];
const load = () => loadavg()[0]?.toFixed(1) ?? "?";
console.log(`mutation benchmark: ${cases.length} cases on ${repo}, ${compiler} (load ${load()})`);
try {
  for (const c of cases) {
    let outcome: CaseOutcome;
    const started = Date.now();
    try {
      outcome = await runCase(await workspace.prepare(c, compiler));
    } catch (err) {
      outcome = {
        name: c.name,
        expected: verdictText(
          expectationsFor(c, compiler).map((e) => ({
            rule: e.rule,
            symbol: e.symbol,
            introducedBy: e.patch,
            fixedBy: e.fixedBy,
          })),
        ),
        toolchain: "error",
        hypwatch: "error",
        ok: false,
        problems: [err instanceof Error ? err.message : String(err)],
        checkMs: 0,
        totalMs: Date.now() - started,
        findings: 0,
        causes: 0,
        judgement: "missed",
      };
    }
    outcomes.push(outcome);
    console.log(
      `  ${outcome.ok ? "OK  " : "FAIL"} ${c.name}: ${outcome.judgement} (${outcome.findings} findings / ${outcome.causes} cause${outcome.causes === 1 ? "" : "s"}, ` +
        `check ${(outcome.checkMs / 1000).toFixed(1)} s, ` +
        `with truth ${(outcome.totalMs / 1000).toFixed(1)} s, load ${load()})`,
    );
    for (const p of outcome.problems) console.log(`       ${p}`);
    if (compiler === "clang" && c.clang) console.log(`       clang expectation: ${c.clang.why}`);
  }
} finally {
  await workspace.close();
}

const perCause = (o: CaseOutcome) => `${o.findings} / ${o.causes}`;
const widths = [
  Math.max(4, ...outcomes.map((o) => o.name.length)),
  Math.max(8, ...outcomes.map((o) => o.expected.length)),
  Math.max(9, ...outcomes.map((o) => o.toolchain.length)),
  Math.max(8, ...outcomes.map((o) => o.hypwatch.length)),
  Math.max(16, ...outcomes.map((o) => perCause(o).length)),
  Math.max(7, ...outcomes.map((o) => o.judgement.length)),
];
const row = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
console.log(
  `\n${row(["case", "expected", "toolchain", "hypwatch", "findings / causes", "judged", "result"])}`,
);
for (const o of outcomes)
  console.log(
    row([
      o.name,
      o.expected,
      o.toolchain,
      o.hypwatch,
      perCause(o),
      o.judgement,
      o.ok ? "OK" : "FAIL",
    ]),
  );
const findings = outcomes.reduce((n, o) => n + o.findings, 0);
const causes = outcomes.reduce((n, o) => n + o.causes, 0);
const failed = outcomes.filter((o) => !o.ok).length;
const controls = cases.filter((c) => expectationsFor(c, compiler).length === 0).length;
const checkTimes = outcomes.map((o) => o.checkMs).sort((a, b) => a - b);
const median = checkTimes[Math.floor(checkTimes.length / 2)] ?? 0;
const judged = new Map<string, number>();
for (const o of outcomes) judged.set(o.judgement, (judged.get(o.judgement) ?? 0) + 1);
console.log(
  `\njudged: ${[...judged].map(([j, n]) => `${n} ${j}`).join(", ")}` +
    `\n${outcomes.length - failed}/${outcomes.length} OK (${controls} clean controls, ` +
    `${cases.length - controls} violations); ${failed} FAIL; median check ${(median / 1000).toFixed(1)} s; ` +
    `${findings} findings in ${causes} causes`,
);
if (values.json) await writeFile(values.json, JSON.stringify(outcomes, null, 2));
process.exitCode = failed > 0 ? 1 : 0;
