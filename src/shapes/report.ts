import type { FileDiff, Person } from "../mail/types.js";
import type { Series } from "../series/types.js";
import type { RequestedBy, Verdict } from "./verdict.js";

export type { RequestedBy };

/** What the bot answers to a command mail that queued no check (`ignore`, or not understood). */
export interface CommandAck extends RequestedBy {
  list: string;
  /** The answer, a line per command. */
  lines: string[];
}

/*
 * What every reporter (replies, GitHub issues, digests, the dashboard) is given about one
 * verdict: the revision it judged, the verdict of the series' previous revision, and the
 * posted mails it may answer or quote. Loaded from the store by src/notify/context.ts.
 */

/** One revision of a series with its verdict. */
export interface ReportedRevision {
  list: string;
  /** The revision's key in the store (`rev:<key>`). */
  revision: string;
  series: Series;
  verdict: Verdict;
}

/** A cover letter or patch as it was mailed: whom a reply goes to, and the hunks to quote. */
export interface ThreadPost {
  messageId: string;
  /** The Subject header as decoded, `Re:` not added. */
  subject: string;
  /** The real author (a list's DMARC rewrite undone). */
  author: Person;
  to: Person[];
  cc: Person[];
  /** Oldest first, without angle brackets. */
  references: string[];
  /** Marked as sent by a program (Auto-Submitted, a known bot): never answered. */
  automated: boolean;
  /** The patch's diff; empty for a cover letter. */
  files: FileDiff[];
}

export interface ReportContext {
  current: ReportedRevision;
  /**
   * The newest earlier version of the same series that has a verdict other than
   * `superseded`; null for a first posting or when no earlier one was checked.
   */
  previous: ReportedRevision | null;
  /** The current revision's cover letter and patches by Message-ID (those stored raw). */
  posts: Map<string, ThreadPost>;
  /** Rules the series' people asked not to hear about (`#hypwatch ignore <rule>`). */
  ignored?: string[];
  /**
   * `current.verdict` is the steps verdict of the check: what building every patch in turn
   * found beyond the verdict, problems a patch brings in and a later patch removes.
   */
  steps?: boolean;
}
