/**
 * `npm run digest:sample [-- --check]`: the sample digest of docs/digest-sample.txt (and
 * .html), a monthly kvmarm digest of October 2022 made of real threads and real verdicts.
 *
 * The series are every arm64 KVM series posted to kvmarm that month, as `hypwatch scan`
 * assembles the corpus archive (versions, authors, links, review trailers). Each verdict is
 * the result of `hypwatch check` of that series on Debian's linux-source-6.1 with the cross
 * compiler, kept in test/fixtures/digest/ (`--check` runs the checks again; a missing one
 * is run). One series is changed to show a finding: patch 2/2 of the pKVM memory
 * transitions cleanup is checked as examples/pkvm-transitions-va.mbox holds it, with one
 * line using the kernel's __va() in nVHE code; the digest says so. A verdict's time is the
 * series' posting time plus the check's measured duration.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { format, resolveConfig } from "prettier";
import { ensureTree } from "../src/apply/index.js";
import { readConfig } from "../src/config.js";
import { checkSeries } from "../src/pipeline/check.js";
import { classifyResult, newVerdict } from "../src/pipeline/check-revision.js";
import { scanSource } from "../src/pipeline/scan.js";
import { checkRequest, selectSeries } from "../src/pipeline/select.js";
import { renderDigest } from "../src/report/digest.js";
import type { Series } from "../src/series/types.js";
import type { CheckResult } from "../src/shapes/check.js";
import type { ReportContext, ReportedRevision } from "../src/shapes/report.js";
import { corpusPath, mboxOf, rawMailsById } from "../test/corpus.js";
import { writeJsonFile } from "../test/json-file.js";

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const FIXTURES = path.join(ROOT, "test", "fixtures", "digest");
const { values } = parseArgs({
  options: {
    source: { type: "string", default: corpusPath("kvmarm-0.git") },
    check: { type: "boolean", default: false },
  },
});
const say = (text: string) => process.stderr.write(`digest:sample: ${text}\n`);

const START = Date.parse("2022-10-01T00:00:00Z");
const END = Date.parse("2022-11-01T00:00:00Z");
/** The series checked with one line changed, and the mail it is checked as. */
const INJECTED = {
  id: "20221028083448.1998389-1-oliver.upton@linux.dev",
  mbox: path.join(ROOT, "examples", "pkvm-transitions-va.mbox"),
  result: path.join(ROOT, "test", "fixtures", "report", "pkvm-transitions-va.check.json"),
};

const config = readConfig();
const { series } = await scanSource(values.source, config);
const byId = new Map(series.map((s) => [s.id, s]));
const posted = (s: Series) => (s.date ? Date.parse(s.date) : NaN);
const month = series
  .filter((s) => s.relevant && s.complete && posted(s) >= START && posted(s) < END)
  .sort((a, b) => posted(a) - posted(b));
say(`${month.length} arm64 KVM series posted in October 2022`);

const fixtureOf = (s: Series) =>
  s.id === INJECTED.id
    ? INJECTED.result
    : path.join(FIXTURES, `${s.id.replace(/[^A-Za-z0-9.@-]+/g, "_")}.check.json`);

/** Run `hypwatch check` on each series whose result is missing (or all, with --check). */
async function runChecks(todo: Series[]): Promise<void> {
  if (todo.length === 0) return;
  const ids = new Set(
    todo.flatMap((s) => [
      ...(s.coverMessageId ? [s.coverMessageId] : []),
      ...s.patches.map((p) => p.messageId),
    ]),
  );
  const raw = await rawMailsById(values.source, ids);
  const repo = await ensureTree({ tree: config.tree });
  const scratch = await mkdtemp(path.join(tmpdir(), "hypwatch-digest-sample-"));
  await mkdir(FIXTURES, { recursive: true });
  try {
    for (const s of todo) {
      const mbox = INJECTED.id === s.id ? INJECTED.mbox : path.join(scratch, "series.mbox");
      if (mbox !== INJECTED.mbox) {
        const mails = [s.coverMessageId, ...s.patches.map((p) => p.messageId)]
          .map((id) => (id ? raw.get(id) : undefined))
          .filter((m): m is Buffer => m !== undefined);
        await writeFile(mbox, mboxOf(mails));
      }
      const selected = await selectSeries(mbox, config);
      say(`checking v${s.version} ${s.subject}`);
      const result = await checkSeries(checkRequest(repo, selected, config, { base: null }));
      await writeJsonFile(fixtureOf(s), result);
      say(`  ${classifyResult(result).kind} in ${(result.timings.totalMs / 1000).toFixed(1)} s`);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

await runChecks(month.filter((s) => values.check || !existsSync(fixtureOf(s))));

async function reported(s: Series): Promise<ReportedRevision> {
  const result = JSON.parse(await readFile(fixtureOf(s), "utf8")) as CheckResult;
  const { kind, reason } = classifyResult(result);
  const recordedAt = posted(s) + result.timings.totalMs;
  const revision = { key: `rev-${s.id}`, list: "kvmarm", series: s, lastArrivedAt: posted(s) };
  const verdict = newVerdict(
    { checkKey: `check-${s.id}`, revision, analyzer: "sample", recordedAt },
    kind,
    reason,
    result,
  );
  return { list: "kvmarm", revision: revision.key, series: s, verdict };
}

const contexts: ReportContext[] = [];
for (const s of month) {
  // The revision before this one, when it was checked in the same month.
  const earlier = [...s.revisions]
    .reverse()
    .map((r) => byId.get(r.id))
    .find((r): r is Series => !!r && r.version < s.version && month.includes(r));
  contexts.push({
    current: await reported(s),
    previous: earlier ? await reported(earlier) : null,
    posts: new Map(),
  });
}

const digest = renderDigest({
  name: "kvmarm-monthly",
  lists: ["kvmarm"],
  period: { start: new Date(START), end: new Date(END) },
  contexts,
  loreUrl: "https://lore.kernel.org/kvmarm",
  note:
    "This is a sample: every arm64 KVM series posted to kvmarm in October 2022, each " +
    "checked by hypwatch on linux 6.1 (the verdicts are real). One series was changed to " +
    'show a finding: patch 2/2 of "KVM: arm64: pKVM memory transitions cleanup" was ' +
    "checked with one line using __va() in nVHE code. Rendered by scripts/sample-digest.ts.",
});

await writeFile(
  path.join(ROOT, "docs", "digest-sample.txt"),
  `Subject: ${digest.subject}\n\n${digest.text}`,
);
// Formatted as the repository's other files are (npm test checks them).
const htmlFile = path.join(ROOT, "docs", "digest-sample.html");
const prettier = (await resolveConfig(htmlFile)) ?? {};
await writeFile(htmlFile, await format(digest.html, { ...prettier, parser: "html" }));
say(`docs/digest-sample.txt, docs/digest-sample.html: ${digest.subject}`);
