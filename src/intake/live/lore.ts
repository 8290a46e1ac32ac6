import { XMLParser } from "fast-xml-parser";
import { z } from "zod";
import type { Config, LoreConfig } from "../../config.js";
import { HypwatchError, type ErrorKind } from "../../errors.js";
import { httpGet, redactUrl, retryAfterMs, type HttpGetResult } from "../../io/http.js";
import { DEFAULT_MAIL_LIMITS, MAIL_LIMIT_ENV, type MailLimits } from "../../mail/limits.js";
import { SourceError } from "../errors.js";
import { readMboxBytes } from "../mbox.js";
import type { RawMail } from "../types.js";
import {
  reporter,
  type Checkpoint,
  type LiveMail,
  type LiveReadOptions,
  type LiveSource,
} from "./types.js";
import { mailMessageId, pause, seenKey } from "./common.js";

/** Why part of a lore inbox could not be read. */
export type LoreErrorCode =
  /** 404 or 410 for a thread: deleted or never there; the other threads are read. */
  | "thread-gone"
  /** Any other status no retry can change (401, 403, 404 of the feed itself, ...). */
  | "http-status"
  /** 429, 5xx, timeouts or connection failures, still there after every retry. */
  | "unavailable"
  /** The feed is not an Atom feed of public-inbox, or the checkpoint is not ours. */
  | "bad-feed"
  | "bad-checkpoint"
  /** The inbox has no search (HTTP 501): what new.atom no longer lists could not be read. */
  | "no-search";

/** A lore feed or thread that could not be read; `url` never carries credentials. */
export class LoreError extends HypwatchError {
  readonly kind: ErrorKind;
  constructor(
    readonly code: LoreErrorCode,
    readonly url: string,
    readonly reason: string,
  ) {
    super(`${redactUrl(url)}: ${reason}`);
    this.kind = code === "unavailable" ? "upstream" : "permanent";
  }
}

export interface LoreSourceOptions {
  /** One inbox, e.g. `https://lore.kernel.org/kvmarm` (or `/all`). */
  inboxUrl: string;
  /** hypwatch's version, for the User-Agent. */
  version: string;
  /** A project URL or mail address for the User-Agent, so lore's admins can reach us. */
  contact?: string;
  /** Milliseconds between polls of new.atom; each wait adds up to 20% of jitter. */
  pollIntervalMs: number;
  /** Message, line and inflate bounds (the compressed thread bound defaults to the inflate one). */
  limits?: MailLimits;
  /** Bytes of one t.mbox.gz or search answer as fetched. Default: `limits.maxDecompressedBytes`. */
  maxThreadBytes?: number;
  /** Bytes of new.atom (lore's is about 100 kB for 25 entries). */
  maxFeedBytes?: number;
  /** Milliseconds one request may take, body included. */
  timeoutMs?: number;
  /** Retries of a request answered 429 or 5xx (not 501), or timed out, before it is given up. */
  retries?: number;
  /** First backoff in milliseconds, doubled per retry, with jitter, when there is no Retry-After. */
  backoffMs?: number;
  /** A Retry-After longer than this gives the request up (we do not hold a read for hours). */
  maxRetryAfterMs?: number;
  /**
   * When new.atom has moved past everything read before, the inbox is searched for the mail
   * received since this long before the last complete read began (clocks, lore's indexing).
   */
  catchUpMarginMs?: number;
  /** Ids of yielded messages kept in the checkpoint: those of the last `seenWindowMs`... */
  seenWindowMs?: number;
  /** ...and at most this many, the newest. */
  maxSeen?: number;
  /** Injected for tests. */
  get?: typeof httpGet;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * The checkpoint, as JSON: `{ v: 1, etag, lastModified, readAt, seen }`.
 * - `etag` and `lastModified`: new.atom's validators from the last feed read whose every
 *   thread was read (sent back as If-None-Match / If-Modified-Since; null when none).
 * - `readAt`: when that read began (ms, our clock); a catch-up searches from shortly before.
 *   Absent in checkpoints written before it existed, and before the first complete read.
 * - `catchUp`: true when a catch-up search could not be read since (the feed's messages
 *   were yielded all the same): the next read searches again, whatever the feed lists.
 * - `seen`: `[key, ms]` for each message yielded within the window: key is the first 16 hex
 *   digits of the SHA-256 of its Message-ID (of its bytes when it has none), ms when we
 *   yielded it (our clock, not its Date:, which people backdate). Bounded by `seenWindowMs`
 *   and `maxSeen`; a message whose key is there is never yielded again, whatever its thread.
 */
const checkpointSchema = z.object({
  v: z.literal(1),
  etag: z.string().nullable(),
  lastModified: z.string().nullable(),
  readAt: z.number().optional(),
  catchUp: z.literal(true).optional(),
  seen: z.array(z.tuple([z.string(), z.number()])),
});
type CheckpointState = z.infer<typeof checkpointSchema>;

/**
 * A lore source's options as configured: the inbox and poll interval of `inbox` (a list's
 * lore source; default the HYPWATCH_LORE_* one), the contact and the mail limits.
 */
export function loreSourceOptions(
  config: Config,
  version: string,
  inbox: Pick<LoreConfig, "url" | "pollIntervalSeconds"> = config.lore,
): LoreSourceOptions {
  return {
    inboxUrl: inbox.url,
    version,
    contact: config.lore.contact,
    pollIntervalMs: inbox.pollIntervalSeconds * 1000,
    limits: config.mailLimits,
  };
}

/** `hypwatch/<version> (+<contact>)`, what lore's admins ask bots to send. */
export function loreUserAgent(version: string, contact?: string): string {
  return contact ? `hypwatch/${version} (+${contact})` : `hypwatch/${version}`;
}

/** One entry of new.atom: the message's id as its URL path segment (still escaped). */
export interface FeedEntry {
  segment: string;
  messageId: string;
  updated: string | null;
}

const feedParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "",
  isArray: (name) => name === "entry" || name === "link",
});

const atomFeed = z.object({
  feed: z.object({
    entry: z
      .array(
        z.object({
          link: z.array(z.object({ href: z.string().optional(), rel: z.string().optional() })),
          updated: z.string().optional(),
        }),
      )
      .default([]),
  }),
});

/**
 * The entries of a public-inbox new.atom, newest first as served. public-inbox writes each
 * entry's message URL as `<link href="<inbox>/<escaped Message-ID>/"/>` (the link without
 * `rel`). Null when the text is not such a feed.
 */
export function parseLoreFeed(xml: string): FeedEntry[] | null {
  let parsed;
  try {
    parsed = atomFeed.safeParse(feedParser.parse(xml));
  } catch {
    return null;
  }
  if (!parsed.success) return null;
  const entries: FeedEntry[] = [];
  for (const entry of parsed.data.feed.entry) {
    const link = entry.link.find((l) => l.href && !l.rel)?.href;
    if (!link) continue;
    const url = link.replace(/\/+$/, "");
    const segment = url.slice(url.lastIndexOf("/") + 1);
    if (!segment || segment === "." || segment === "..") continue;
    let messageId: string;
    try {
      messageId = decodeURIComponent(segment);
    } catch {
      messageId = segment;
    }
    entries.push({ segment, messageId, updated: entry.updated ?? null });
  }
  return entries;
}

const EMPTY = Buffer.alloc(0);

/** Read back a checkpoint; null starts at the feed as it is now. */
function parseCheckpoint(from: Checkpoint | null, source: string): CheckpointState {
  if (from === null) return { v: 1, etag: null, lastModified: null, seen: [] };
  try {
    return checkpointSchema.parse(JSON.parse(from));
  } catch {
    throw new LoreError("bad-checkpoint", source, "checkpoint is not one of a lore source");
  }
}

/** Received times to search, in seconds, both ends included; `to` null: no end. */
interface ReceivedRange {
  from: number;
  to: number | null;
}

/** `range` in two halves, older first; null for one second, or an open range from now on. */
function halveRange(
  range: ReceivedRange,
  nowSeconds: number,
): [ReceivedRange, ReceivedRange] | null {
  const to = range.to ?? nowSeconds;
  if (to <= range.from) return null;
  const mid = Math.floor((range.from + to) / 2);
  return [
    { from: range.from, to: mid },
    { from: mid + 1, to: range.to },
  ];
}

/** An inflate bound reached by a whole answer, as readMboxBytes reports it (not one message's). */
const inflateBound = (error: Error): boolean =>
  error instanceof SourceError &&
  error.code === "over-limit" &&
  error.reason.endsWith(`(${MAIL_LIMIT_ENV.maxDecompressedBytes})`);

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

/**
 * One lore (public-inbox) inbox over HTTP, as every kernel bot reads it: poll `new.atom`
 * conditionally, fetch each new entry's thread as `t.mbox.gz`, yield the messages not
 * yielded before. From a null checkpoint, reading starts with the threads of the entries
 * the feed lists now (lore lists the newest 25 or so).
 *
 * new.atom lists only the newest messages: when it lists none that was read before (more
 * mail came than it holds since the last read: a pause, a long series), the inbox's search
 * is asked, as `lei up` asks it, for everything received since shortly before the last
 * complete read (`POST <inbox>/?q=rt:<seconds>..&x=m`, an mboxrd.gz of every result), and
 * those not yielded before come first, oldest first. An answer over a size cap is asked
 * again as two halves of its time range. An inbox without search answers 501: that is
 * reported, saying what may have been missed, and the feed's threads are read as before.
 *
 * The checkpoint of a message is written before the next one is fetched; the feed's new
 * validators and the time of the read go only with the last message of a read whose every
 * thread (and search) was fetched, so a read that stops half-way, or a thread that stayed
 * unavailable, is read again on the next poll (a 200 for a feed whose messages were all
 * seen costs the feed and nothing else).
 */
export function createLoreSource(opts: LoreSourceOptions): LiveSource {
  const inbox = opts.inboxUrl.replace(/\/+$/, "");
  const id = `lore:${inbox.slice(inbox.lastIndexOf("/") + 1)}`;
  const limits = opts.limits ?? DEFAULT_MAIL_LIMITS;
  const maxThreadBytes = opts.maxThreadBytes ?? limits.maxDecompressedBytes;
  const maxFeedBytes = opts.maxFeedBytes ?? 16 * 1024 * 1024;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const retries = opts.retries ?? 4;
  const backoffMs = opts.backoffMs ?? 2_000;
  const maxRetryAfterMs = opts.maxRetryAfterMs ?? 10 * 60_000;
  const catchUpMarginMs = opts.catchUpMarginMs ?? 15 * 60_000;
  const seenWindowMs = opts.seenWindowMs ?? 14 * DAY_MS;
  const maxSeen = opts.maxSeen ?? 20_000;
  const get = opts.get ?? httpGet;
  const sleep = opts.sleep ?? pause;
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const userAgent = loreUserAgent(opts.version, opts.contact);
  /** Not before this time (ms): a Retry-After the feed sent, honoured by waitForNew too. */
  let notBefore = 0;

  type Fetched =
    | Extract<HttpGetResult, { outcome: "response" | "too-large" }>
    | { outcome: "unavailable"; reason: string };

  /** GET (or POST) with retries of 429, 5xx but 501, timeouts and connection failures. */
  async function fetchRetrying(
    url: string,
    headers: Record<string, string>,
    maxBodyBytes: number,
    signal?: AbortSignal,
    method: "GET" | "POST" = "GET",
  ): Promise<Fetched> {
    for (let attempt = 0; ; attempt++) {
      const result = await get(url, {
        method,
        headers: { "user-agent": userAgent, ...headers },
        timeoutMs,
        maxBodyBytes,
        signal,
      });
      let reason: string;
      let wait: number | null = null;
      if (result.outcome === "too-large") return result;
      if (result.outcome === "response") {
        // 501 Not Implemented (a search an inbox does not have) is no passing trouble.
        if (result.status !== 429 && (result.status < 500 || result.status === 501)) {
          return result;
        }
        reason = `HTTP ${result.status}`;
        wait = retryAfterMs(result.headers.get("retry-after"), now());
      } else if (result.outcome === "timeout") {
        reason = `no answer within ${result.timeoutMs} ms`;
      } else {
        reason = `connection failed (${result.reason})`;
      }
      if (wait !== null && wait > maxRetryAfterMs) {
        notBefore = Math.max(notBefore, now() + wait);
        return { outcome: "unavailable", reason: `${reason}, Retry-After ${wait / 1000} s` };
      }
      if (attempt >= retries) {
        return { outcome: "unavailable", reason: `${reason} after ${attempt + 1} attempts` };
      }
      const ms = wait ?? backoffMs * 2 ** attempt * (0.5 + random());
      await sleep(ms, signal);
      if (signal?.aborted) throw signal.reason;
    }
  }

  async function* read(
    from: Checkpoint | null,
    readOpts: LiveReadOptions = {},
  ): AsyncGenerator<LiveMail> {
    const { signal } = readOpts;
    const report = reporter(readOpts);
    const state = parseCheckpoint(from, inbox);
    const seen = new Map<string, number>(state.seen);
    const startedAt = now();

    const feedUrl = `${inbox}/new.atom`;
    const conditional: Record<string, string> = {};
    if (state.etag) conditional["if-none-match"] = state.etag;
    if (state.lastModified) conditional["if-modified-since"] = state.lastModified;
    const feed = await fetchRetrying(feedUrl, conditional, maxFeedBytes, signal);
    if (feed.outcome === "unavailable") throw new LoreError("unavailable", feedUrl, feed.reason);
    if (feed.outcome === "too-large") {
      throw new LoreError("bad-feed", feedUrl, `feed larger than ${feed.maxBodyBytes} bytes`);
    }
    if (feed.status === 304) return;
    if (feed.status !== 200) {
      throw new LoreError("http-status", feedUrl, `HTTP ${feed.status}`);
    }
    const entries = parseLoreFeed(feed.body.toString("utf8"));
    if (entries === null) throw new LoreError("bad-feed", feedUrl, "not an Atom feed");
    const validators = {
      etag: feed.headers.get("etag"),
      lastModified: feed.headers.get("last-modified"),
    };

    const snapshot = (final: boolean): Checkpoint => {
      // Forget what fell out of the window, then keep the newest `maxSeen`.
      const horizon = now() - seenWindowMs;
      for (const [key, at] of seen) if (at < horizon) seen.delete(key);
      const kept = [...seen].slice(-maxSeen);
      if (kept.length < seen.size) {
        seen.clear();
        for (const [key, at] of kept) seen.set(key, at);
      }
      const next: CheckpointState = {
        v: 1,
        etag: final ? validators.etag : state.etag,
        lastModified: final ? validators.lastModified : state.lastModified,
        readAt: final ? startedAt : state.readAt,
        catchUp: final ? undefined : (state.catchUp ?? (searchOwed || undefined)),
        seen: kept,
      };
      return JSON.stringify(next);
    };

    let complete = true;
    /** A search this read needed could not be read now: the next one must search again. */
    let searchOwed = false;
    const messageKey = (mail: RawMail): string => seenKey(mailMessageId(mail.raw), mail.raw);

    /**
     * The messages received in `range` and not yielded before, oldest first. An answer
     * over a size cap is asked again as two halves; an answer that cannot be had now
     * leaves the read incomplete, so the next poll asks again.
     */
    async function* searchReceived(range: ReceivedRange, since: number): AsyncGenerator<RawMail> {
      const missed = (why: string): string =>
        `${why}: messages received between ${iso(since)} and ${iso(startedAt)} that ` +
        `new.atom no longer lists may have been missed`;
      if (notBefore > now()) {
        complete = false;
        searchOwed = true;
        return;
      }
      const query = new URLSearchParams({ q: `rt:${range.from}..${range.to ?? ""}`, x: "m" });
      const url = `${inbox}/?${query.toString()}`;
      const answer = await fetchRetrying(url, {}, maxThreadBytes, signal, "POST");
      if (answer.outcome === "unavailable") {
        complete = false;
        searchOwed = true;
        report(new LoreError("unavailable", url, answer.reason));
        return;
      }
      let over: string;
      /** What could be read of an answer over the inflate bound: its newest messages. */
      const found: RawMail[] = [];
      if (answer.outcome === "too-large") {
        over = `search answer of more than ${answer.maxBodyBytes} bytes`;
      } else {
        // public-inbox answers a search without results 404 "No results found".
        if (answer.status === 404) return;
        if (answer.status === 501) {
          report(new LoreError("no-search", inbox, missed("the inbox has no search (HTTP 501)")));
          return;
        }
        if (answer.status !== 200) {
          report(
            new LoreError("http-status", url, missed(`search answered HTTP ${answer.status}`)),
          );
          return;
        }
        if (answer.body[0] !== 0x1f || answer.body[1] !== 0x8b) {
          report(new LoreError("http-status", url, missed("search answer is not an mboxrd.gz")));
          return;
        }
        const name = `${id}/search rt:${range.from}..${range.to ?? ""}`;
        let inflatedPastBound = false;
        try {
          for await (const mail of readMboxBytes(answer.body, name, redactUrl(url), {
            limits,
            onError: (error) => {
              if (inflateBound(error)) inflatedPastBound = true;
              else report(error);
            },
          })) {
            if (!seen.has(messageKey(mail))) found.push(mail);
          }
        } catch (error) {
          if (signal?.aborted) throw error;
          report(error instanceof Error ? error : new Error(String(error)));
        }
        // public-inbox lists results newest first (by the order it stored them).
        if (!inflatedPastBound) {
          yield* found.reverse();
          return;
        }
        over = `search answer that inflates to more than ${limits.maxDecompressedBytes} bytes`;
      }
      const halves = halveRange(range, Math.floor(startedAt / 1000));
      if (halves === null) {
        const when =
          range.to === null ? `since ${iso(range.from * 1000)}` : `at ${iso(range.from * 1000)}`;
        const what = `${over}: the older messages received ${when} are not read`;
        report(new SourceError("over-limit", redactUrl(url), what));
        yield* found.reverse();
        return;
      }
      for (const half of halves) yield* searchReceived(half, since);
    }

    /**
     * Each message is held until the next is known, so the last can carry the validators.
     * (Typed by assertion: `take` sets it, which the narrowing of a plain null cannot see.)
     */
    let held = null as LiveMail | null;
    const take = (mail: RawMail): LiveMail | null => {
      const key = messageKey(mail);
      if (seen.has(key)) return null;
      seen.set(key, now());
      const previous = held;
      held = { mail, checkpoint: snapshot(false) };
      return previous;
    };

    // The feed has moved past everything read before (or an earlier search is owed): search
    // what it no longer lists.
    const gap =
      from !== null &&
      (state.catchUp === true ||
        (entries.length > 0 &&
          !entries.some((entry) => seen.has(seenKey(entry.messageId, EMPTY)))));
    if (gap) {
      // Without the time of the last read (an older checkpoint): the newest message it saw,
      // else the seen window, out of which nothing was yielded.
      const newestSeen = state.seen.reduce((newest, [, at]) => Math.max(newest, at), -Infinity);
      const since = state.readAt ?? (state.seen.length > 0 ? newestSeen : startedAt - seenWindowMs);
      const range = { from: Math.floor((since - catchUpMarginMs) / 1000), to: null };
      for await (const mail of searchReceived(range, since)) {
        const ready = take(mail);
        if (ready) yield ready;
      }
    }

    // Oldest first, so checkpoints follow the feed's order.
    for (const entry of [...entries].reverse()) {
      if (seen.has(seenKey(entry.messageId, EMPTY))) continue;
      // lore asked us to stay away longer than we wait: the rest waits for the next poll.
      if (notBefore > now()) {
        complete = false;
        break;
      }
      const threadUrl = `${inbox}/${entry.segment}/t.mbox.gz`;
      const thread = await fetchRetrying(threadUrl, {}, maxThreadBytes, signal);
      if (thread.outcome === "unavailable") {
        complete = false;
        report(new LoreError("unavailable", threadUrl, thread.reason));
        continue;
      }
      if (thread.outcome === "too-large") {
        const what = `t.mbox.gz of more than ${thread.maxBodyBytes} bytes, not read`;
        report(new SourceError("over-limit", redactUrl(threadUrl), what, entry.messageId));
        continue;
      }
      if (thread.status === 404 || thread.status === 410) {
        report(new LoreError("thread-gone", threadUrl, `HTTP ${thread.status}`));
        continue;
      }
      if (thread.status !== 200) {
        report(new LoreError("http-status", threadUrl, `HTTP ${thread.status}`));
        continue;
      }
      const name = `${id}/${entry.messageId}/t.mbox.gz`;
      try {
        for await (const mail of readMboxBytes(thread.body, name, redactUrl(threadUrl), {
          limits,
          onError: report,
        })) {
          const ready = take(mail);
          if (ready) yield ready;
        }
      } catch (error) {
        if (signal?.aborted) throw error;
        report(error instanceof Error ? error : new Error(String(error)));
      }
    }
    if (held) yield { mail: held.mail, checkpoint: complete ? snapshot(true) : held.checkpoint };
  }

  return {
    id,
    read,
    async waitForNew(signal?: AbortSignal): Promise<void> {
      const interval = opts.pollIntervalMs * (1 + 0.2 * random());
      const ms = Math.max(interval, notBefore - now());
      await sleep(ms, signal);
    },
    async close(): Promise<void> {
      // Each request is its own; fetch's pool closes idle connections by itself.
    },
  };
}
