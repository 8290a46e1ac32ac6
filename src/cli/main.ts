#!/usr/bin/env node
import { Command, InvalidArgumentError } from "commander";
import { readConfig } from "../config.js";
import { scanSource } from "../pipeline/scan.js";
import { renderScanTable, summarizeScan } from "../report/scan.js";

const program = new Command()
  .name("hypwatch")
  .description("Finds arm64 KVM patch series in list mail and checks their hyp code");

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("expected a whole number");
  return n;
};

program
  .command("scan")
  .description(
    "read list mail (mbox, mbox.gz, Maildir, .eml, public-inbox git) and list its series",
  )
  .argument("<source>", "an mbox/mboxrd file, t.mbox.gz, Maildir, .eml or public-inbox epoch(s)")
  .option("--json", "print the documented JSON shape (docs/json.md)")
  .option("--since <commit>", "public-inbox: resume after this commit")
  .option("--relevant-only", "list only series that touch arm64 KVM")
  .option("--workers <n>", "parsing threads (0: none)", positiveInt)
  .action(
    async (
      source: string,
      opts: { json?: boolean; since?: string; relevantOnly?: boolean; workers?: number },
    ) => {
      const config = readConfig();
      const result = await scanSource(source, config, {
        ...(opts.since ? { since: opts.since } : {}),
        ...(opts.workers === undefined ? {} : { workers: opts.workers }),
        onError: (error) => process.stderr.write(`hypwatch: ${error.message}\n`),
      });
      const series = opts.relevantOnly ? result.series.filter((s) => s.relevant) : result.series;
      const summary = summarizeScan(result.series, result.messages, result.errors.length);
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify({ summary, lastCommit: result.lastCommit, series }, null, 2)}\n`,
        );
      } else {
        process.stdout.write(`${renderScanTable(series, summary)}\n`);
      }
    },
  );

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`hypwatch: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
