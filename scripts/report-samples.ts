/**
 * `npm run report:samples`: what the reporters write for real check results, rendered
 * into docs/samples/ for people to read before they let the bot mail a list:
 * - the reply under the patch of the bundled GICv2 series that calls pr_warn_ratelimited()
 *   from nVHE code, with the real check output of linux 6.1 (test/fixtures/report/);
 * - the GitHub issue body for the same verdict (and for the next one);
 * - the reply under patch 2/2 of a real kvmarm series, Oliver Upton's pKVM memory
 *   transitions cleanup, checked with one line changed to use __va() in nVHE code
 *   (examples/pkvm-transitions-va.mbox), with its real check output;
 * - the note a list that opts in (`notApplied`) gets for the real Shadow Call Stack v7
 *   thread, which does not apply to linux 6.1.
 */
import { readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { format, resolveConfig } from "prettier";
import { replyPolicySchema } from "../src/config.js";
import { effectMessageId } from "../src/notify/mail.js";
import {
  issueBody,
  issueLabels,
  issueTitle,
  seriesToken,
  verdictToken,
} from "../src/report/github.js";
import { planReplies, type ReplySettings } from "../src/report/reply.js";
import { DEFAULT_BOT_ADDRESSES } from "../src/series/index.js";
import type { ReportContext } from "../src/shapes/report.js";
import { gicv2Context, pkvmContext, scsContext } from "../test/report-context.js";

const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "docs", "samples");

function settings(policy: object): ReplySettings {
  return {
    policy: replyPolicySchema.parse(policy),
    from: "hypwatch <hypwatch@example.org>",
    listAddress: "kvmarm@lists.linux.dev",
    loreUrl: "https://lore.kernel.org/all",
    messageIdDomain: "hypwatch.example.org",
    botAddresses: DEFAULT_BOT_ADDRESSES,
    messageIdFor: (id) => effectMessageId(`reply:sample:${id}`, "hypwatch.example.org"),
    version: "0.1.0",
  };
}

function asMail(context: ReportContext, policy: object): string {
  return planReplies(context, settings(policy))
    .map((r) =>
      [
        `From: hypwatch <hypwatch@example.org>`,
        `To: ${r.to.join(", ")}`,
        ...(r.cc.length > 0 ? [`Cc: ${r.cc.join(", ")}`] : []),
        `Subject: ${r.subject}`,
        `In-Reply-To: <${r.inReplyTo}>`,
        "",
        r.text,
      ].join("\n"),
    )
    .join("\n");
}

/** The GitHub issue body of a verdict, formatted as the repository's Markdown (npm test checks it). */
async function writeIssue(file: string, context: ReportContext): Promise<void> {
  const { series, verdict } = context.current;
  const marker = {
    series: [seriesToken("kvmarm", series.id)],
    version: verdict.version,
    verdict: verdictToken(`verdict:${verdict.checkKey}`),
  };
  const body = [
    `<!-- title: ${issueTitle(verdict)} -->`,
    `<!-- labels: ${issueLabels(verdict).join(", ")} -->`,
    "",
    issueBody(context, marker, { loreUrl: "https://lore.kernel.org/all" }),
  ].join("\n");
  const options = (await resolveConfig(file)) ?? {};
  await writeFile(file, await format(body, { ...options, parser: "markdown" }));
}

const gicv2 = await gicv2Context();
await writeFile(path.join(OUT, "reply-gicv2.txt"), asMail(gicv2, { mode: "list" }));
await writeIssue(path.join(OUT, "issue-gicv2.md"), gicv2);
const pkvm = await pkvmContext();
await writeFile(path.join(OUT, "reply-pkvm-transitions-va.txt"), asMail(pkvm, { mode: "list" }));
await writeIssue(path.join(OUT, "issue-pkvm-transitions-va.md"), pkvm);
const scs = await scsContext();
await writeFile(
  path.join(OUT, "reply-scs-v7-not-applied.txt"),
  asMail(scs, { mode: "list", notApplied: true }),
);
process.stdout.write(`wrote ${(await readdir(OUT)).sort().join(", ")} in ${OUT}\n`);
