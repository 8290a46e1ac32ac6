import type { BotMailKind, Person, Trailer } from "../mail/types.js";

/** One patch of a series as `hypwatch scan --json` prints it (docs/json.md). */
export interface SeriesPatch {
  index: number;
  messageId: string;
  subject: string;
  /** Who `git am` records as author: the in-body `From:`, else the mail's real sender. */
  author: Person;
  files: string[];
  relevant: boolean;
  /** The patch's own trailers plus those given in replies (and on the cover letter). */
  trailers: Trailer[];
}

export interface Series {
  /** Stable id: the cover letter's Message-ID, or the first patch's. */
  id: string;
  subject: string;
  version: number;
  total: number;
  /**
   * Who wrote it: of a cover letter, its sender (or its in-body `From:`); without one, the
   * first patch's git author (its in-body `From:`, else its sender).
   */
  author: Person;
  /** Who posted it: the real sender of the cover letter, else of the first patch (DMARC-aware). */
  sender: Person;
  /** ISO 8601; the earliest Date of the series' mails. */
  date: string | null;
  coverMessageId: string | null;
  complete: boolean;
  relevant: boolean;
  /** Ids of the other revisions of the same series, oldest first. */
  revisions: { id: string; version: number }[];
  /** True when no newer revision of this series was seen. */
  newest: boolean;
  patches: SeriesPatch[];
}

/** A mail with a diff that a program sent (src/mail/bots.ts): listed, never a series. */
export interface BotMailEntry {
  messageId: string;
  subject: string;
  sender: Person;
  /** ISO 8601; null when the Date did not parse. */
  date: string | null;
  kind: BotMailKind;
  /** The header, sender or body line that decided it. */
  reason: string;
  /** Its diff touches a relevant path. */
  relevant: boolean;
}
