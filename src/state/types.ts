export type { Verdict, VerdictKind } from "../shapes/verdict.js";
import type { SeriesMail } from "../series/index.js";
import type { Series } from "../series/types.js";
import type { CommandAck, RequestedBy } from "../shapes/report.js";

/** One list message as the service keeps it: once per Message-ID, whatever list carried it. */
export interface StoredMessage {
  messageId: string;
  summary: SeriesMail;
  /**
   * The raw mail, kept for cover letters and patches only (a check applies them); replies,
   * most of a list, are kept as their summary.
   */
  raw: Buffer | null;
  /** When this service first stored it (ms since the epoch). */
  arrivedAt: number;
}

/** A message's place in one list: its arrival number there and its summary. */
export interface ArrivedMail {
  seq: number;
  arrivedAt: number;
  summary: SeriesMail;
}

/**
 * One revision of a series as last assembled: what a check job loads, on any machine, from
 * its key alone. Its key changes whenever its set of patches does.
 */
export interface Revision {
  key: string;
  list: string;
  series: Series;
  baseCommit: string | null;
  /** When the last of its mails arrived (ms): where verdict latency is measured from. */
  lastArrivedAt: number;
}

/** What the service last decided for one (series, version) of a list. */
export interface SeriesHead {
  revision: string;
  newest: boolean;
  relevant: boolean;
  complete: boolean;
  /** The check scheduled for it, if any (its check key, also its job id). */
  check: string | null;
  /**
   * The last check scheduled for it, kept once it is no longer the newest: where a reply
   * on the next version finds what was reported on this one.
   */
  lastCheck?: string | null;
}

/** The revision that superseded a check: the series and version a reader names it by. */
export interface Superseder {
  seriesId: string;
  version: number;
}

/** What must be reported: read by the reporters, each send recorded under its own key. */
export interface OutboxEntry {
  /** Stream id in Redis: where a reader resumes. */
  id: string;
  /**
   * `verdict:<checkKey>`, `steps:<checkKey>` or `command:<Message-ID>`: a reporter records
   * each side effect under a key derived from it.
   */
  idempotencyKey: string;
  /** The verdict to report; empty for a command's answer. */
  checkKey: string;
  /**
   * Report the steps verdict of `checkKey` (`StateStore.steps`): what building every patch in
   * turn found that the verdict could not, a problem one patch brings in and a later one
   * removes.
   */
  steps?: boolean;
  /** The answer to a command mail, for a command that queued no check. */
  ack?: CommandAck;
}

export type { CommandAck, RequestedBy };
