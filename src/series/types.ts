import type { Person, Trailer } from "../mail/types.js";

/** One patch of a series as `hypwatch scan --json` prints it (docs/json.md). */
export interface SeriesPatch {
  index: number;
  messageId: string;
  subject: string;
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
  author: Person;
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
