/**
 * `npm run series:applicable [-- --since 2022-09-01 --until 2023-07-01 --out FILE]`
 *
 * Finds the real kvmarm series the latency benchmark checks: of the series in the kvmarm
 * archive posted in the window (linux 6.1 was released in December 2022, so series of that
 * time were written against trees close to it), the newest complete revisions that touch
 * arm64 KVM and that `git am` applies to Debian's linux-source-6.1 as it is. Each is tried
 * in one scratch worktree, reset between series. Writes the list (bench/latency-series.json
 * by default) with each series' Message-IDs, so the benchmark reads the very mail from the
 * archive again, and prints how many applied and why the others did not.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureTree } from "../src/apply/index.js";
import { readConfig } from "../src/config.js";
import { git, gitOk } from "../src/io/git.js";
import { scanSource } from "../src/pipeline/scan.js";
import type { Series } from "../src/series/types.js";
import { corpusPath, mboxOf, rawMailsById } from "../test/corpus.js";
import { writeJsonFile } from "../test/json-file.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    source: { type: "string", default: corpusPath("kvmarm-0.git") },
    since: { type: "string", default: "2022-09-01" },
    until: { type: "string", default: "2023-07-01" },
    out: { type: "string", default: path.join(ROOT, "bench", "latency-series.json") },
  },
});
const say = (text: string) => process.stderr.write(`series:applicable: ${text}\n`);

/** One entry of the list the latency benchmark reads. */
export interface ApplicableSeries {
  id: string;
  subject: string;
  version: number;
  date: string;
  author: string;
  coverMessageId: string | null;
  patches: string[];
  /** Files the series changes. */
  files: number;
}

const config = readConfig();
const scan = await scanSource(values.source, config, {});
const inWindow = (s: Series) => s.date !== null && s.date >= values.since && s.date < values.until;
const candidates = scan.series
  .filter((s) => s.relevant && s.newest && s.complete && inWindow(s))
  .sort((a, b) => (a.date ?? "").localeCompare(b.date ?? ""));
say(`${scan.messages} messages, ${candidates.length} newest complete arm64 KVM series in window`);

// The raw mail of each candidate patch, read again from the archive by Message-ID.
const raw = await rawMailsById(
  values.source,
  new Set(candidates.flatMap((s) => s.patches.map((p) => p.messageId))),
);

const repo = await ensureTree({ tree: config.tree });
const base = (await gitOk(repo, ["rev-parse", "HEAD"])).trim();
const scratch = await mkdtemp(path.join(tmpdir(), "hypwatch-applicable-"));
const worktree = path.join(scratch, "tree");
await gitOk(repo, ["worktree", "add", "--detach", "-q", worktree, base]);
const found: ApplicableSeries[] = [];
const reasons = new Map<string, number>();
const count = (reason: string) => reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
try {
  for (const [i, series] of candidates.entries()) {
    const mails = series.patches.map((p) => raw.get(p.messageId));
    if (mails.some((m) => m === undefined)) {
      count("a patch mail was not found again");
      continue;
    }
    const mbox = path.join(scratch, "series.mbox");
    await writeFile(mbox, mboxOf(mails as Buffer[]));
    const am = await git(worktree, ["am", "-q", mbox]);
    if (am.exitCode === 0) {
      const changed = await gitOk(worktree, ["diff", "--name-only", base, "HEAD"]);
      found.push({
        id: series.id,
        subject: series.subject,
        version: series.version,
        date: series.date!,
        author: series.author.email,
        coverMessageId: series.coverMessageId,
        patches: series.patches.map((p) => p.messageId),
        files: changed.split("\n").filter(Boolean).length,
      });
    } else {
      count(
        /does not apply|patch failed/.test(am.stdout + am.stderr)
          ? "does not apply"
          : "git am failed otherwise",
      );
      await git(worktree, ["am", "--abort"]);
    }
    await gitOk(worktree, ["reset", "-q", "--hard", base]);
    if ((i + 1) % 25 === 0) say(`${i + 1}/${candidates.length} tried, ${found.length} apply`);
  }
} finally {
  await git(repo, ["worktree", "remove", "--force", worktree]);
  await rm(scratch, { recursive: true, force: true });
}

const { since, until } = values;
await writeJsonFile(values.out, {
  source: path.basename(values.source),
  base,
  since,
  until,
  series: found,
});
say(
  `${found.length} of ${candidates.length} apply to ${base.slice(0, 12)}; wrote ${path.relative(ROOT, values.out)}`,
);
for (const [reason, n] of reasons) say(`  ${n} ${reason}`);
