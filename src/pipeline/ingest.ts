import { parseOne } from "../intake/parseBatch.js";
import { DEFAULT_MAIL_LIMITS, type MailLimits } from "../mail/limits.js";
import type { MailMessage, MailParseError, RawMail } from "../mail/types.js";
import { summarizeMail, type SeriesMail } from "../series/index.js";
import type { PutResult, StateStore } from "../state/store.js";

/** Cover letters and patches are applied by checks; replies are kept as summaries only. */
function keepsRaw(summary: SeriesMail): boolean {
  const s = summary.subject;
  return !s.isReply && !s.isForward && (summary.hasDiff || s.isPatch || s.index !== null);
}

export type IngestOutcome =
  ({ ok: true; messageId: string } & PutResult) | { ok: false; error: MailParseError };

export interface IngestDeps {
  store: StateStore;
  clock?: () => number;
  limits?: MailLimits;
}

/**
 * Parse one list message and store it in a list: once per Message-ID (a cross-posted copy
 * is the same message, numbered in each list that carried it). A mail that cannot be parsed
 * is returned as its error, naming it; nothing is stored for it.
 */
export async function ingestMail(
  deps: IngestDeps,
  list: string,
  mail: RawMail,
): Promise<IngestOutcome> {
  const parsed = await parseOne(mail, "message", deps.limits ?? DEFAULT_MAIL_LIMITS);
  if (!parsed.ok) return { ok: false, error: parsed.error };
  const message = parsed.value as MailMessage;
  const summary = summarizeMail(message, 0);
  const put = await deps.store.putMessage(list, {
    messageId: message.messageId,
    summary,
    raw: keepsRaw(summary) ? mail.raw : null,
    baseCommit: message.patch?.metadata.baseCommit ?? message.metadata?.baseCommit ?? null,
    arrivedAt: (deps.clock ?? Date.now)(),
  });
  return { ok: true, messageId: message.messageId, ...put };
}
