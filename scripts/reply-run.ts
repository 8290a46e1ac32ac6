/**
 * `npm run reply-run [-- --timeout-minutes M]`: one run of `hypwatch serve` with every peer
 * real and on loopback. A series with a hyp violation (the bundled GICv2 series, or
 * `--mbox FILE`) arrives in a public-inbox read as lore; the verdict's reply goes over SMTP
 * into a Dovecot mailbox, where hypwatch's own IMAP intake reads it back and threads it
 * under the patch it answers; the issue goes to a GitHub stand-in that checks every
 * exchange against GitHub's OpenAPI description. Prints the times from arrival to verdict
 * and to reply, the replies and the issue (their text, to paste as samples); exits 1 if
 * any expectation fails.
 */
import { parseArgs } from "node:util";
import { formatReplyRunReport, runReplyPath } from "../test/reply-run.js";

const { values: args } = parseArgs({
  options: {
    mbox: { type: "string" },
    "timeout-minutes": { type: "string", default: "20" },
  },
});

const report = await runReplyPath({
  ...(args.mbox ? { mbox: args.mbox } : {}),
  timeoutMs: Number(args["timeout-minutes"]) * 60_000,
  progress: (text) => process.stderr.write(`reply-run: ${text}\n`),
});
process.stdout.write(formatReplyRunReport(report));
process.exitCode = report.failures.length === 0 ? 0 : 1;
