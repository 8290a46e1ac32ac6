import { parseMails } from "../intake/parsePool.js";
import { parseOne } from "../intake/parseBatch.js";
import { DEFAULT_MAIL_LIMITS, type MailLimits } from "../mail/limits.js";
import type { MailParseError, RawMail } from "../mail/types.js";
import type { SeriesMail } from "../series/index.js";
import type { PutResult, StateStore } from "../state/store.js";
import type { StoredMessage } from "../state/types.js";

/** Cover letters and patches are applied by checks; replies are kept as summaries only. */
function keepsRaw(summary: SeriesMail): boolean {
  const s = summary.subject;
  return !s.isReply && !s.isForward && (summary.hasDiff || s.isPatch || s.index !== null);
}

function stored(summary: SeriesMail, raw: Buffer, arrivedAt: number): StoredMessage {
  return {
    messageId: summary.messageId,
    summary,
    raw: keepsRaw(summary) ? raw : null,
    arrivedAt,
  };
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
  const parsed = await parseOne(mail, "summary", deps.limits ?? DEFAULT_MAIL_LIMITS);
  if (!parsed.ok) return { ok: false, error: parsed.error };
  const summary = parsed.value as SeriesMail;
  const put = await deps.store.putMessage(
    list,
    stored(summary, mail.raw, (deps.clock ?? Date.now)()),
  );
  return { ok: true, messageId: summary.messageId, ...put };
}

/** A message as a source yields it, with the checkpoint after it, if the source has them. */
export interface Arriving {
  mail: RawMail;
  checkpoint?: string;
}

/** What one batch of `ingestStream` did. */
export interface IngestedBatch {
  /** Messages read in this batch, parsed or not. */
  read: number;
  /** Messages new to this list. */
  fresh: number;
  skipped: number;
  /** The checkpoint after the batch's last message (the source's, if it has them). */
  checkpoint: string | undefined;
  /** Messages stored for the first time that hold `#hypwatch` commands. */
  commands: SeriesMail[];
}

export interface IngestStreamOptions {
  /** Messages stored per Redis round trip. */
  batchSize?: number;
  /** Parsing threads besides the calling one (see `parseMails`). */
  workers?: number;
  /** A message that could not be parsed, named; the stream goes on. */
  onError?: (error: MailParseError) => void;
}

/**
 * Parse a stream of list mail on worker threads, as `scan` does, and store it in batches:
 * each batch is written in one Redis round trip and then yielded with the checkpoint after
 * its last message, for the caller to record. A crash loses at most the batch being
 * written, which is read again from the last recorded checkpoint and stored once.
 */
export async function* ingestStream(
  deps: IngestDeps,
  list: string,
  arriving: AsyncIterable<Arriving>,
  opts: IngestStreamOptions = {},
): AsyncGenerator<IngestedBatch> {
  const batchSize = opts.batchSize ?? 500;
  const now = deps.clock ?? Date.now;
  // Mails in the parser, in order; its outcomes come back in the same order.
  const inFlight: Arriving[] = [];
  async function* mails(): AsyncGenerator<RawMail> {
    for await (const item of arriving) {
      inFlight.push(item);
      yield item.mail;
    }
  }
  let batch: StoredMessage[] = [];
  let read = 0;
  let skipped = 0;
  let checkpoint: string | undefined;
  const flush = async (): Promise<IngestedBatch> => {
    const results = batch.length > 0 ? await deps.store.putMessages(list, batch) : [];
    const commands = batch
      .filter((m, i) => results[i]?.isNew && (m.summary.commands?.length ?? 0) > 0)
      .map((m) => m.summary);
    const fresh = results.filter((r) => r.newInList).length;
    const done = { read, fresh, skipped, checkpoint, commands };
    batch = [];
    read = 0;
    skipped = 0;
    return done;
  };
  const parsed = parseMails(mails(), {
    output: "summary",
    limits: deps.limits ?? DEFAULT_MAIL_LIMITS,
    ...(opts.workers === undefined ? {} : { workers: opts.workers }),
  });
  for await (const outcome of parsed) {
    const item = inFlight.shift();
    if (!item) throw new Error("parser returned more mails than it was given");
    read++;
    checkpoint = item.checkpoint ?? checkpoint;
    if (outcome.ok) batch.push(stored(outcome.value, item.mail.raw, now()));
    else {
      skipped++;
      opts.onError?.(outcome.error);
    }
    if (read >= batchSize) yield await flush();
  }
  if (read > 0) yield await flush();
}
