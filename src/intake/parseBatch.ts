import { DEFAULT_MAIL_LIMITS, type MailLimits } from "../mail/limits.js";
import { parseMail } from "../mail/index.js";
import { MailParseError, type MailMessage } from "../mail/types.js";
import { summarizeMail, type SeriesMail } from "../series/index.js";
import type { RawMail } from "./types.js";

/**
 * What parsing hands on: the whole `MailMessage`, or only the `SeriesMail` summary series
 * assembly keeps (far smaller to pass between threads).
 */
export type ParseOutput = "message" | "summary";

export type Parsed<T> =
  | { ok: true; origin: string; commit?: string; value: T }
  | { ok: false; origin: string; commit?: string; error: MailParseError };

/** A parse failure as it crosses a thread boundary (class instances do not). */
type WireOutcome<T> =
  | { ok: true; origin: string; commit?: string; value: T }
  | { ok: false; origin: string; commit?: string; messageId: string | null; reason: string };

export interface ParseBatchRequest {
  id: number;
  output: ParseOutput;
  limits: MailLimits;
  mails: RawMail[];
}

export interface ParseBatchResponse {
  id: number;
  outcomes: WireOutcome<MailMessage | SeriesMail>[];
}

/** Parse one mail; a failure of any kind becomes a MailParseError naming the mail. */
export async function parseOne(
  mail: RawMail,
  output: ParseOutput,
  limits: MailLimits = DEFAULT_MAIL_LIMITS,
): Promise<Parsed<MailMessage | SeriesMail>> {
  const where =
    mail.commit === undefined
      ? { origin: mail.origin }
      : { origin: mail.origin, commit: mail.commit };
  try {
    const message = await parseMail(mail, limits);
    return {
      ok: true,
      ...where,
      value: output === "summary" ? summarizeMail(message, 0) : message,
    };
  } catch (cause) {
    const error =
      cause instanceof MailParseError
        ? cause
        : new MailParseError(
            mail.origin,
            null,
            cause instanceof Error ? cause.message : String(cause),
          );
    return { ok: false, ...where, error };
  }
}

export async function parseBatch(request: ParseBatchRequest): Promise<ParseBatchResponse> {
  const outcomes: WireOutcome<MailMessage | SeriesMail>[] = [];
  for (const mail of request.mails) {
    // Buffers arrive as plain Uint8Arrays after the thread hop.
    const bytes: Uint8Array = mail.raw;
    const raw = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const outcome = await parseOne({ ...mail, raw }, request.output, request.limits);
    outcomes.push(
      outcome.ok
        ? outcome
        : {
            ok: false,
            origin: outcome.origin,
            ...(outcome.commit === undefined ? {} : { commit: outcome.commit }),
            messageId: outcome.error.messageId,
            reason: outcome.error.reason,
          },
    );
  }
  return { id: request.id, outcomes };
}

export function fromWire<T>(outcome: WireOutcome<T>): Parsed<T> {
  if (outcome.ok) return outcome;
  const { origin, commit, messageId, reason } = outcome;
  const error = new MailParseError(origin, messageId, reason);
  return commit === undefined ? { ok: false, origin, error } : { ok: false, origin, commit, error };
}
