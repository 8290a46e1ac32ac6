import { randomUUID } from "node:crypto";
import { ConfigError, type Config, type ReplyPolicy } from "../config.js";
import { HypwatchError } from "../errors.js";
import type { Logger } from "../log.js";
import { planAck, planReplies, type PlannedReply, type ReplySettings } from "../report/reply.js";
import { DEFAULT_BOT_ADDRESSES } from "../series/index.js";
import type { CommandAck, ReportContext } from "../shapes/report.js";
import type { StateStore } from "../state/store.js";
import { packageVersion } from "../version.js";
import { effectMessageId, type MailSender } from "./mail.js";
import type { Reporter } from "./reporter.js";

/** A list's reply policy and posting address; lists not configured take the top level's. */
export function listReplySettings(
  config: Config,
  list: string,
): { policy: ReplyPolicy; address: string | null } {
  const listConfig = config.lists.find((l) => l.name === list);
  return { policy: listConfig?.reply ?? config.reply, address: listConfig?.address ?? null };
}

/** The ledger key of one reply: one per verdict and mail answered. */
export const replyEffectKey = (idempotencyKey: string, inReplyTo: string): string =>
  `reply:${idempotencyKey}:${inReplyTo}`;

/** What the reply reporter works with for one list (a function of the config alone). */
export function replySettings(config: Config, list: string, idempotencyKey: string): ReplySettings {
  const { policy, address } = listReplySettings(config, list);
  return {
    policy,
    from: config.mail.from,
    listAddress: address,
    loreUrl: config.lore.url,
    messageIdDomain: config.mail.messageIdDomain,
    botAddresses: DEFAULT_BOT_ADDRESSES,
    messageIdFor: (inReplyTo) =>
      effectMessageId(replyEffectKey(idempotencyKey, inReplyTo), config.mail.messageIdDomain),
    version: packageVersion(),
  };
}

/** Another worker is sending this reply now; the job is retried after it. */
export class ReplyInFlightError extends HypwatchError {
  readonly kind = "transient";
}

export interface ReplyReporterDeps {
  store: StateStore;
  config: Config;
  /** The dry run: every list whose policy does not `send` writes here. */
  outbox: MailSender;
  /** SMTP, for lists whose policy sends; null when `mail.smtp` is not configured. */
  smtp: MailSender | null;
  log: Logger;
}

/** How long a worker may take to send one reply before another may try it again. */
const SEND_LEASE_MS = 10 * 60_000;

/**
 * Replies in the thread (src/report/reply.ts), each sent once: its ledger key is looked up
 * first and written once it went out. A worker holds a lease on the key while it sends, so
 * two workers never send it at once; a worker that dies between sending and writing the
 * ledger leaves the lease to lapse, and the retry sends the same mail again with the same
 * Message-ID, which archives and mail clients recognise as one message.
 */
export function replyReporter(deps: ReplyReporterDeps): Reporter {
  const { store, config, log } = deps;
  const holder = randomUUID();
  const anySends = [config.reply, ...config.lists.map((l) => l.reply)].some((p) => p?.send);
  if (anySends && !deps.smtp)
    throw new ConfigError([
      "mail.smtp: a reply policy has `send: true` but no SMTP server is configured",
    ]);

  async function sendOnce(reply: PlannedReply, key: string, sender: MailSender): Promise<void> {
    const effect = replyEffectKey(key, reply.inReplyTo);
    if (await store.sideEffect(effect)) return;
    if (!(await store.holdLease(`effect:${effect}`, holder, SEND_LEASE_MS)))
      throw new ReplyInFlightError(
        `the reply to <${reply.inReplyTo}> is being sent by another worker`,
      );
    try {
      if (await store.sideEffect(effect)) return;
      const messageId = effectMessageId(effect, config.mail.messageIdDomain);
      const delivery = await sender.send({
        from: config.mail.from,
        to: reply.to,
        cc: reply.cc,
        subject: reply.subject,
        messageId,
        inReplyTo: reply.inReplyTo,
        references: reply.references,
        text: reply.text,
        headers: { "X-Hypwatch-Reply": reply.kind },
      });
      await store.recordSideEffect(
        effect,
        JSON.stringify({ messageId, via: delivery.via, detail: delivery.detail, at: Date.now() }),
      );
      log.info(
        { inReplyTo: reply.inReplyTo, messageId, via: delivery.via, kind: reply.kind },
        "reply sent",
      );
    } finally {
      await store.releaseLease(`effect:${effect}`, holder);
    }
  }

  return {
    name: "reply",
    async report(context: ReportContext, idempotencyKey: string) {
      const settings = replySettings(config, context.current.list, idempotencyKey);
      const sender = settings.policy.send && deps.smtp ? deps.smtp : deps.outbox;
      for (const reply of planReplies(context, settings))
        await sendOnce(reply, idempotencyKey, sender);
    },
    async acknowledge(ack: CommandAck, idempotencyKey: string) {
      const settings = replySettings(config, ack.list, idempotencyKey);
      const sender = settings.policy.send && deps.smtp ? deps.smtp : deps.outbox;
      const reply = planAck(ack, settings);
      if (reply) await sendOnce(reply, idempotencyKey, sender);
    },
    async close() {
      deps.outbox.close();
      deps.smtp?.close();
    },
  };
}
