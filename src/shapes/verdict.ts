import type { Person } from "../mail/types.js";
import type { CheckResult } from "./check.js";

/**
 * The mail that asked for a check (`#hypwatch retest`, `#hypwatch base <ref>`): the
 * verdict is answered there, to the person who asked.
 */
export interface RequestedBy {
  messageId: string;
  author: Person;
  subject: string;
  /** Oldest first, without angle brackets. */
  references: string[];
  /** The command line as written (escaped when shown). */
  command: string;
}

/**
 * Why a revision has the findings it has, or none: the one word a reporter, `status` and
 * the replay tally read.
 */
export type VerdictKind =
  | "findings"
  | "clean"
  | "does-not-apply"
  | "already-applied"
  | "no-base"
  | "timed-out"
  | "build-failed"
  | "superseded";

export interface Verdict {
  checkKey: string;
  revision: string;
  list: string;
  seriesId: string;
  subject: string;
  version: number;
  /** Checked before every patch had arrived, after the configured wait. */
  partial: boolean;
  kind: VerdictKind;
  /** For `timed-out` and `build-failed`: the bound or problem, in a few words. */
  reason: string | null;
  /** Null for `superseded`: the check's result was thrown away unread. */
  result: CheckResult | null;
  analyzer: string;
  recordedAt: number;
  /** From the revision's last message arriving to this verdict (ms). */
  latencyMs: number;
  /** Set when a command mail asked for this check (older verdicts: absent). */
  requestedBy?: RequestedBy | null;
}
