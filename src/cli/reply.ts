import type { Config } from "../config.js";
import { mboxrdEntry } from "../intake/index.js";
import { composeMail } from "../notify/mail.js";
import { postOf } from "../notify/context.js";
import { replySettings } from "../notify/reply.js";
import { classifyResult, newVerdict } from "../pipeline/check-revision.js";
import type { SelectedSeries } from "../pipeline/select.js";
import { planReplies } from "../report/reply.js";
import type { CheckResult } from "../shapes/check.js";
import type { ReportContext, ThreadPost } from "../shapes/report.js";

/**
 * `hypwatch check --reply`: the replies the service would send for this series under the
 * top-level reply policy, as an mboxrd a mail client opens. Nothing is sent or stored.
 */
export async function replyMbox(
  config: Config,
  selected: SelectedSeries,
  result: CheckResult,
): Promise<string> {
  const series = selected.series;
  if (!series) return "";
  const posts = new Map<string, ThreadPost>();
  if (selected.cover && series.coverMessageId)
    posts.set(series.coverMessageId, await postOf(selected.cover, series.coverMessageId));
  for (const patch of selected.patches) {
    const raw = typeof patch.mail === "string" ? Buffer.from(patch.mail) : patch.mail;
    posts.set(patch.id, await postOf(raw, patch.id));
  }
  const { kind, reason } = classifyResult(result);
  const revision = { key: "one-shot", list: "one-shot", series, lastArrivedAt: Date.now() };
  const origin = { checkKey: "one-shot", revision, analyzer: "one-shot", recordedAt: Date.now() };
  const context: ReportContext = {
    current: {
      list: "one-shot",
      revision: "one-shot",
      series,
      verdict: newVerdict(origin, kind, reason, result),
    },
    previous: null,
    posts,
  };
  const key = `check:${series.id}:v${series.version}`;
  const settings = replySettings(config, "one-shot", key);
  const out: Buffer[] = [];
  for (const reply of planReplies(context, settings)) {
    const raw = await composeMail({
      from: config.mail.from,
      to: reply.to,
      cc: reply.cc,
      subject: reply.subject,
      messageId: settings.messageIdFor(reply.inReplyTo),
      inReplyTo: reply.inReplyTo,
      references: reply.references,
      text: reply.text,
      headers: { "X-Hypwatch-Reply": reply.kind },
    });
    const lf = Buffer.from(raw.toString("utf8").replace(/\r\n/g, "\n"));
    out.push(mboxrdEntry(lf), Buffer.from("\n"));
  }
  return Buffer.concat(out).toString("utf8");
}
