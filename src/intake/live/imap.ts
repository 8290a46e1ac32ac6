import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { HypwatchError, type ErrorKind } from "../../errors.js";
import {
  ImapError,
  imapServerName,
  openImapSession,
  type ImapServer,
  type ImapSession,
} from "../../io/imap.js";
import { errorMessage, redact, type Logger } from "../../log.js";
import type { ImapConfig } from "../../config.js";
import { DEFAULT_MAIL_LIMITS, overLimitReason, type MailLimits } from "../../mail/limits.js";
import { SourceError } from "../errors.js";
import {
  reporter,
  type Checkpoint,
  type LiveMail,
  type LiveReadOptions,
  type LiveSource,
} from "./types.js";
import { decodeCheckpoint, shortHash } from "./common.js";

export type { ImapServer } from "../../io/imap.js";

/** Why the IMAP source stopped or what it had to tell about the mailbox. */
export type ImapSourceErrorCode = "bad-checkpoint" | "uidvalidity-changed" | "gave-up";

export class ImapSourceError extends HypwatchError {
  readonly kind: ErrorKind;
  constructor(
    readonly code: ImapSourceErrorCode,
    readonly source: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(redact(`${source}: ${reason}`), options);
    this.kind = code === "gave-up" ? "upstream" : "permanent";
  }
}

/**
 * What the IMAP source resumes from: the mailbox's UIDVALIDITY and the last UID yielded, and
 * hashes of the Message-IDs yielded most recently, newest last. A UID means nothing under
 * another UIDVALIDITY (the mailbox was recreated or renumbered); the hashes let a refetch of
 * the whole mailbox skip what was already yielded.
 */
const checkpointSchema = z.object({
  uidValidity: z.string().regex(/^\d+$/),
  lastUid: z.number().int().nonnegative(),
  seen: z.array(z.string()).default([]),
});

type ImapCheckpoint = z.infer<typeof checkpointSchema>;

export interface ImapSourceOptions {
  /** `maxMessageBytes` is checked against RFC822.SIZE before a body is fetched. */
  limits?: MailLimits;
  log?: Logger;
  /**
   * Message-ID hashes kept in the checkpoint. After a UIDVALIDITY change, a message yielded
   * before is skipped if its hash is among these; 1,000 is weeks of a busy list, and the
   * checkpoint stays under 20 kB.
   */
  seenLimit?: number;
  /** Connection attempts in a row before giving up (reconnects back off 0.5 s doubling to 10 s). */
  maxAttempts?: number;
  /** First reconnect delay in ms (tests shorten it). */
  backoffMs?: number;
  /** Bound on connecting and the greeting, in ms. */
  timeoutMs?: number;
}

function parseCheckpoint(source: string, from: Checkpoint): ImapCheckpoint {
  const decoded = decodeCheckpoint(checkpointSchema, from, "IMAP");
  if ("reason" in decoded) throw new ImapSourceError("bad-checkpoint", source, decoded.reason);
  return decoded.value;
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/**
 * A subscribed IMAP mailbox as a live source. `read(null)` starts at the first message of the
 * mailbox. Messages come in UID order as their raw source, origin `imap:<mailbox>#<uid>`; a
 * message over `maxMessageBytes` (by RFC822.SIZE, before its body is fetched) is reported
 * through `onError` and skipped. The mailbox is opened read-only, so no flag is changed.
 */
export class ImapSource implements LiveSource {
  readonly id: string;
  private session: ImapSession | null = null;
  private readonly limits: MailLimits;
  private readonly seenLimit: number;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;

  constructor(
    private readonly server: ImapServer,
    private readonly opts: ImapSourceOptions = {},
  ) {
    this.id = `imap:${server.mailbox}`;
    this.limits = opts.limits ?? DEFAULT_MAIL_LIMITS;
    this.seenLimit = opts.seenLimit ?? 1000;
    this.maxAttempts = opts.maxAttempts ?? 6;
    this.backoffMs = opts.backoffMs ?? 500;
  }

  /**
   * A logged-in session with the mailbox selected: the open one, else a new one, retried with
   * backoff. Wrong credentials or a missing mailbox are not retried.
   */
  private async connected(signal?: AbortSignal): Promise<ImapSession> {
    if (this.session && !this.session.closed) return this.session;
    this.session = null;
    let delay = this.backoffMs;
    let last: unknown;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      try {
        this.session = await openImapSession(this.server, { timeoutMs: this.opts.timeoutMs });
        return this.session;
      } catch (error) {
        if (error instanceof ImapError && error.kind === "permanent") throw error;
        last = error;
        this.opts.log?.warn(
          { source: this.id, attempt, delayMs: delay, err: error },
          "imap connection failed",
        );
        if (attempt === this.maxAttempts) break;
        await sleep(delay, undefined, { signal }).catch(() => {});
        if (isAborted(signal)) break;
        delay = Math.min(delay * 2, 10_000);
      }
    }
    throw new ImapSourceError(
      "gave-up",
      this.id,
      `no connection to ${imapServerName(this.server)} after ${this.maxAttempts} attempts: ${errorMessage(last)}`,
      { cause: last },
    );
  }

  async *read(from: Checkpoint | null, opts: LiveReadOptions = {}): AsyncIterable<LiveMail> {
    const { signal } = opts;
    const report = reporter(opts);
    const start = from === null ? null : parseCheckpoint(this.id, from);
    let uidValidity = start?.uidValidity ?? null;
    let lastUid = start?.lastUid ?? 0;
    const seen = [...(start?.seen ?? [])];
    const seenSet = new Set(seen);
    /** Set after a UIDVALIDITY change: skip what the stored hashes say was yielded. */
    let dedupe = false;
    /** Drops in a row without a message read between them. */
    let drops = 0;

    while (!isAborted(signal)) {
      const session = await this.connected(signal);
      try {
        const current = session.uidValidity.toString();
        if (uidValidity !== null && uidValidity !== current) {
          const notice = new ImapSourceError(
            "uidvalidity-changed",
            this.id,
            `UIDVALIDITY changed from ${uidValidity} to ${current}: reading the mailbox again, ` +
              `skipping the ${seen.length} messages whose Message-ID was yielded before`,
          );
          this.opts.log?.warn(
            { source: this.id, from: uidValidity, to: current, seen: seen.length },
            "imap uidvalidity changed",
          );
          uidValidity = current;
          lastUid = 0;
          dedupe = true;
          report(notice);
        }
        uidValidity = current;

        const entries = await session.list(lastUid);
        for (const entry of entries) {
          if (isAborted(signal)) return;
          const origin = `${this.id}#${entry.uid}`;
          const hash = entry.messageId === null ? null : shortHash(entry.messageId);
          if (dedupe && hash !== null && seenSet.has(hash)) {
            lastUid = entry.uid;
            continue;
          }
          if (entry.size > this.limits.maxMessageBytes) {
            const what = `message of ${entry.size} bytes`;
            const reason = overLimitReason("maxMessageBytes", what, this.limits.maxMessageBytes);
            lastUid = entry.uid;
            report(new SourceError("over-limit", this.id, reason, origin));
            continue;
          }
          const raw = await session.source(entry.uid);
          lastUid = entry.uid;
          drops = 0;
          if (raw === null) {
            report(new SourceError("read-failed", this.id, "expunged before it was read", origin));
            continue;
          }
          if (hash !== null && !seenSet.has(hash)) {
            seen.push(hash);
            seenSet.add(hash);
            while (seen.length > this.seenLimit) seenSet.delete(seen.shift() as string);
          }
          const checkpoint = JSON.stringify({ uidValidity, lastUid, seen });
          yield { mail: { raw, origin }, checkpoint };
        }
        return;
      } catch (error) {
        if (!(error instanceof ImapError) || error.code !== "dropped") throw error;
        // The connection went away: connect again and go on after the last UID read.
        drops++;
        this.opts.log?.warn({ source: this.id, drops, err: error }, "imap connection dropped");
        this.session = null;
        await session.close().catch(() => {});
        if (drops >= this.maxAttempts) {
          throw new ImapSourceError(
            "gave-up",
            this.id,
            `connection dropped ${drops} times in a row: ${errorMessage(error)}`,
            { cause: error },
          );
        }
      }
    }
  }

  async waitForNew(signal?: AbortSignal): Promise<void> {
    if (isAborted(signal)) return;
    const open = this.session !== null && !this.session.closed;
    const session = await this.connected(signal);
    // A new connection cannot tell what arrived while there was none: mail may be there.
    if (!open) return;
    await session.idle(signal);
  }

  async close(): Promise<void> {
    const session = this.session;
    this.session = null;
    await session?.close();
  }
}

/** The IMAP source of the configuration's `imap` settings (src/config.ts). */
export function createImapSource(config: ImapConfig, opts: ImapSourceOptions = {}): ImapSource {
  const { host, port, tls, user, password, mailbox } = config;
  return new ImapSource({ host, port, secure: tls, user, password, mailbox }, opts);
}
