import type { Config } from "../config.js";
import { HypwatchError } from "../errors.js";
import type { Logger } from "../log.js";
import { errorMessage } from "../log.js";
import { renderDigest } from "../report/digest.js";
import type { ReportContext } from "../shapes/report.js";
import type { StateStore } from "../state/store.js";
import { loadReportContext } from "./context.js";
import { effectMessageId, MailSendError, type Delivery, type MailSender } from "./mail.js";

/** One configured digest (`digests[]` in the config file). */
export type DigestConfig = Config["digests"][number];

/** Verdicts recorded from `start` (inclusive) to `end` (exclusive). */
export interface DigestPeriod {
  start: Date;
  end: Date;
}

export interface DigestDeps {
  store: StateStore;
  /** The outbox Maildir (dry run) or SMTP, as the digest's `send` says. */
  sender: MailSender;
  config: Pick<Config, "lore" | "mail">;
  log: Logger;
  now?: () => Date;
}

export type DigestOutcome =
  /** Mailed now. */
  | { status: "sent"; key: string; messageId: string; delivery: Delivery; series: number }
  /** Mailed before (the ledger says so): nothing done. */
  | { status: "sent-before"; key: string; detail: string }
  /** No verdict in the period: no mail. */
  | { status: "empty"; key: string }
  /**
   * An earlier attempt started sending and never recorded how it went (its process died):
   * not sent again, as the mail may have gone out.
   */
  | { status: "in-doubt"; key: string; messageId: string };

/** The ledger key of a digest's mail for a period: one mail per digest and period start. */
export function digestKey(name: string, period: DigestPeriod): string {
  return `digest:${name}:${period.start.toISOString()}`;
}

/** Ledger key of a series' GitHub issue, written by the issue reporter. */
const issueKey = (list: string, seriesId: string): string => `github:series:${list}:${seriesId}`;

/** An issue URL from what the issue reporter recorded (the URL, or JSON with one). */
function issueUrl(recorded: string | null): string | null {
  if (!recorded) return null;
  let url: unknown = recorded.trim();
  if (recorded.trim().startsWith("{")) {
    try {
      const parsed = JSON.parse(recorded) as { url?: unknown; html_url?: unknown };
      url = parsed.html_url ?? parsed.url;
    } catch {
      return null;
    }
  }
  return typeof url === "string" && /^https?:\/\/[^\s<>"']+$/i.test(url) ? url : null;
}

/** The report contexts of the verdicts a digest covers in a period, with the series' issues. */
export async function gatherDigest(
  store: StateStore,
  digest: Pick<DigestConfig, "lists">,
  period: DigestPeriod,
): Promise<{ contexts: ReportContext[]; issues: Map<string, string> }> {
  const verdicts = await store.verdictsBetween(period.start.getTime(), period.end.getTime());
  const contexts: ReportContext[] = [];
  const issues = new Map<string, string>();
  for (const verdict of verdicts) {
    if (verdict.kind === "superseded") continue;
    if (digest.lists.length > 0 && !digest.lists.includes(verdict.list)) continue;
    const context = await loadReportContext(store, verdict.checkKey);
    if (!context) continue;
    contexts.push(context);
    const url = issueUrl(await store.sideEffect(issueKey(verdict.list, verdict.seriesId)));
    if (url) issues.set(verdict.checkKey, url);
  }
  return { contexts, issues };
}

/** Tries to send one digest mail, each after the transport reported the previous one failed. */
const MAX_TRIES = 20;

/** Every try of a digest was refused by the transport: retrying the job will not help. */
export class DigestTriesError extends HypwatchError {
  readonly kind = "permanent";
  constructor(key: string) {
    super(`${key}: ${MAX_TRIES} tries to send this digest failed; not tried again`);
  }
}

/**
 * Mail a digest of `period` once. The ledger holds, under `digestKey`, the mail that went
 * out; before sending, an attempt claims a numbered try (`<key>:try:<n>`, set once). A try
 * the transport said failed (`MailSendError`, recorded as `<key>:try:<n>:failed`) lets the
 * next attempt take try n+1; a try with neither outcome belongs to an attempt that died
 * while sending, and the digest is not sent again: a mail may be lost, never doubled.
 */
export async function sendDigest(
  deps: DigestDeps,
  request: { digest: DigestConfig; period: DigestPeriod },
): Promise<DigestOutcome> {
  const { store, sender, config } = deps;
  const { digest, period } = request;
  const now = (deps.now ?? (() => new Date()))();
  const key = digestKey(digest.name, period);
  const log = deps.log.child({ digest: digest.name, periodStart: period.start.toISOString() });
  if (period.end.getTime() > now.getTime()) {
    throw new Error(`digest ${digest.name}: the period ends ${period.end.toISOString()}, later`);
  }
  const before = await store.sideEffect(key);
  if (before !== null) return { status: "sent-before", key, detail: before };

  const { contexts, issues } = await gatherDigest(store, digest, period);
  if (contexts.length === 0) {
    log.info("digest: no verdict in the period, nothing sent");
    return { status: "empty", key };
  }
  const rendered = renderDigest({
    name: digest.name,
    lists: digest.lists,
    period,
    contexts,
    loreUrl: config.lore.url,
    issues,
  });
  const messageId = effectMessageId(key, config.mail.messageIdDomain);

  for (let n = 1; n <= MAX_TRIES; n++) {
    const tryKey = `${key}:try:${n}`;
    const claim = JSON.stringify({ messageId, via: sender.via, at: now.toISOString() });
    if (!(await store.recordSideEffect(tryKey, claim))) {
      if ((await store.sideEffect(`${tryKey}:failed`)) !== null) continue;
      const done = await store.sideEffect(key);
      if (done !== null) return { status: "sent-before", key, detail: done };
      log.error(
        { messageId, try: n },
        "digest: an earlier attempt started sending and did not record the outcome; not sent again",
      );
      return { status: "in-doubt", key, messageId };
    }
    let delivery: Delivery;
    try {
      delivery = await sender.send({
        from: config.mail.from,
        to: digest.to,
        cc: [],
        subject: rendered.subject,
        messageId,
        inReplyTo: null,
        references: [],
        text: rendered.text,
        html: rendered.html,
        headers: { "X-Hypwatch-Digest": digest.name },
      });
    } catch (error) {
      // Only the transport's own refusal says the mail did not go: anything else may have sent it.
      if (error instanceof MailSendError)
        await store.recordSideEffect(`${tryKey}:failed`, errorMessage(error));
      throw error;
    }
    await store.recordSideEffect(key, JSON.stringify({ messageId, ...delivery }));
    log.info(
      { messageId, via: delivery.via, series: contexts.length, to: digest.to.length },
      "digest sent",
    );
    return { status: "sent", key, messageId, delivery, series: contexts.length };
  }
  throw new DigestTriesError(key);
}
