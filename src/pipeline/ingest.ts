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

/** Messages parsed for one batch, not yet stored. */
interface ParsedBatch {
  messages: StoredMessage[];
  read: number;
  skipped: number;
  /** The batch's mails as they arrived: the checkpoint is the last one's that has one. */
  arrived: Arriving[];
}

/**
 * Parse a stream of list mail on worker threads, as `scan` does, and store it in batches:
 * each batch is written in one Redis round trip and then yielded with the checkpoint after
 * its last message, for the caller to record. A crash loses at most the batch being
 * written, which is read again from the last recorded checkpoint and stored once. Parsing
 * goes on, a batch ahead, while a batch is written and while the caller handles it; the
 * batches are written one after the other, in order.
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
  async function* parsedBatches(): AsyncGenerator<ParsedBatch> {
    const parsed = parseMails(mails(), {
      output: "summary",
      limits: deps.limits ?? DEFAULT_MAIL_LIMITS,
      ...(opts.workers === undefined ? {} : { workers: opts.workers }),
    });
    let batch: ParsedBatch = { messages: [], read: 0, skipped: 0, arrived: [] };
    for await (const outcome of parsed) {
      const item = inFlight.shift();
      if (!item) throw new Error("parser returned more mails than it was given");
      batch.read++;
      batch.arrived.push(item);
      if (outcome.ok) batch.messages.push(stored(outcome.value, item.mail.raw, now()));
      else {
        batch.skipped++;
        opts.onError?.(outcome.error);
      }
      if (batch.read >= batchSize) {
        yield batch;
        batch = { messages: [], read: 0, skipped: 0, arrived: [] };
      }
    }
    if (batch.read > 0) yield batch;
  }
  let checkpoint: string | undefined;
  for await (const batch of readAhead(parsedBatches(), 1)) {
    const { messages, read, skipped } = batch;
    const results = messages.length > 0 ? await deps.store.putMessages(list, messages) : [];
    const commands = messages
      .filter((m, i) => results[i]?.isNew && (m.summary.commands?.length ?? 0) > 0)
      .map((m) => m.summary);
    const fresh = results.filter((r) => r.newInList).length;
    // Only now: a source may make its checkpoint when asked (an epochs one is large).
    for (let i = batch.arrived.length - 1; i >= 0; i--) {
      const at = batch.arrived[i]?.checkpoint;
      if (at === undefined) continue;
      checkpoint = at;
      break;
    }
    yield { read, fresh, skipped, checkpoint, commands };
  }
}

/**
 * The items of `source`, pulled up to `depth` items ahead of the consumer: the source works
 * on while the consumer handles what it was given. An error of the source reaches the
 * consumer at its place; a consumer that stops early stops the source.
 */
export async function* readAhead<T>(source: AsyncIterable<T>, depth: number): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  // An async generator answers `next` calls one after the other, in the order made.
  const ahead: Promise<IteratorResult<T>>[] = [];
  try {
    for (;;) {
      while (ahead.length <= depth) {
        const next = iterator.next();
        // Handled where it is awaited; this keeps a rejection not yet awaited from counting
        // as unhandled.
        next.catch(() => undefined);
        ahead.push(next);
      }
      const next = await (ahead.shift() as Promise<IteratorResult<T>>);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await iterator.return?.(undefined);
  }
}
