/** One raw message as it came out of a source, before any parsing. */
export interface RawMail {
  /** The message bytes, exactly as stored (mbox "From " line and >From escaping removed). */
  raw: Buffer;
  /**
   * Where it came from, precise enough to find it again and to name it in an error:
   * `kvmarm-0.git@<commit>`, `thread.mbox#12` (1-based message number), `cur/1234.eml`.
   */
  origin: string;
  /** For public-inbox git epochs: the commit that added the message (resume point). */
  commit?: string;
}

import { HypwatchError } from "../errors.js";

/** A person as named in a header. `email` is lower-cased; `name` may be empty. */
export interface Person {
  name: string;
  email: string;
}

/** What a subject line says about the mail. */
export interface ParsedSubject {
  /** The decoded subject, whitespace folded. */
  raw: string;
  /** Starts with Re:/RE:/Aw:/Fwd:/Fw: (possibly repeated). */
  isReply: boolean;
  isForward: boolean;
  /** Has a PATCH-like tag (`[PATCH ...]`, `[RFC ...]`, `PATCH1/8`). */
  isPatch: boolean;
  isRfc: boolean;
  isResend: boolean;
  /** `[GIT PULL]` / `[PULL]`. */
  isPull: boolean;
  /** Version from `vN`; 1 when absent. `v5.5` and `v1.1` are version 5 and 1. */
  version: number;
  /** `5` of `v2.5`: a fractional re-roll of version 2; absent for whole versions. */
  minorVersion?: number;
  /** `09` of `09/11`; null when the subject has no counter. */
  index: number | null;
  /** `11` of `09/11`; null when the subject has no counter. */
  total: number | null;
  /** Bracket tags other than PATCH/RFC/RESEND/version/counter, e.g. `net-next`, `5.10.y`. */
  tags: string[];
  /** The subject without prefixes, brackets, Re:; whitespace folded. Used to link revisions. */
  stem: string;
}

/** A trailer line such as `Reviewed-by: A <a@b>`; `name` in canonical case ("Reviewed-by"). */
export interface Trailer {
  name: string;
  value: string;
  /** The person, for trailers that name one (…-by, Cc). */
  person?: Person;
}

export interface Hunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  /** The text after the second `@@` (function context), trimmed. */
  section: string;
  /** The hunk body lines, each with its leading ' ', '+', '-' or '\\'. */
  lines: string[];
}

export type FileStatus = "modified" | "added" | "deleted" | "renamed" | "copied" | "mode-only";

export interface FileDiff {
  /** Path before the change (without `a/`); null for a new file. */
  oldPath: string | null;
  /** Path after the change (without `b/`); null for a deleted file. */
  newPath: string | null;
  status: FileStatus;
  binary: boolean;
  hunks: Hunk[];
}

/** The footers git format-patch and b4 write, read from the commit message or below `---`. */
export interface PatchMetadata {
  baseCommit: string | null;
  prerequisitePatchIds: string[];
  changeId: string | null;
  prerequisiteChangeIds: string[];
  prerequisiteMessageIds: string[];
  /** Patchew `Based-on: <msgid>`. */
  basedOn: string[];
  /** Patchwork `Depends-on: <msgid>` (or a series URL). */
  dependsOn: string[];
}

export interface Patch {
  /** The commit message body (subject line excluded), as `git mailinfo` writes it. */
  commitMessage: string;
  /** The patch text from the first diff line on, as `git mailinfo` writes it. */
  diff: string;
  files: FileDiff[];
  trailers: Trailer[];
  metadata: PatchMetadata;
  /** An in-body `From:` line (someone sending another person's patch): the patch author. */
  inBodyFrom?: Person;
  /** An in-body `Subject:` line, which `git am` uses instead of the mail's subject. */
  inBodySubject?: string;
}

export type MailWarningKind =
  | "format-flowed-patch"
  | "bad-date"
  | "missing-message-id"
  | "bad-charset"
  | "bad-header"
  | "decoding";

export interface MailWarning {
  kind: MailWarningKind;
  detail: string;
}

/** Why a mail counts as sent by a program (`classifyBotMail`). */
export type BotMailKind =
  | "auto-submitted"
  | "patchwork-ignore"
  | "stable-queue"
  | "commit-notice"
  | "applied-notice"
  | "ci-report"
  | "known-bot";

export interface BotMail {
  kind: BotMailKind;
  /** The header, sender or body line that decided it. */
  reason: string;
}

/** A parsed list message: everything later stages need, nothing they do not. */
export interface MailMessage {
  /** Without angle brackets. A synthetic id (`<origin>@hypwatch.invalid`) when missing. */
  messageId: string;
  inReplyTo: string | null;
  /** Oldest first, as in the header; without angle brackets. */
  references: string[];
  /** The real author (X-Original-From / Reply-To when a list rewrote From for DMARC). */
  author: Person;
  /** The From header as received. */
  from: Person;
  /** True when From was a list's DMARC rewrite (`'X' via List <list@...>`). */
  dmarcRewritten: boolean;
  to: Person[];
  cc: Person[];
  /** Date header; null when missing or unparseable. */
  date: Date | null;
  subject: ParsedSubject;
  /** Decoded text/plain body, list footers stripped. */
  body: string;
  /** Set when the mail carries a diff. */
  patch: Patch | null;
  /** Review trailers given in a reply body (Reviewed-by, Acked-by, Tested-by, ...). */
  replyTrailers: Trailer[];
  /** Auto-Submitted other than "no", or a known bot sender. */
  automated: boolean;
  /**
   * Set when a program sent this mail, not a person posting a patch for review: a commit or
   * stable-queue notice, a CI report, a thank-you (src/mail/bots.ts). Such mail is no series.
   * Null for replies and forwards, which are no series anyway.
   */
  botMail: BotMail | null;
  listId: string | null;
  /**
   * format-patch/b4 footers found anywhere in the mail (also on a cover letter, which
   * has no `patch`); absent when there are none.
   */
  metadata?: PatchMetadata;
  warnings: MailWarning[];
  origin: string;
  commit?: string;
}

/** A message that could not be parsed. The run goes on; this names what failed. */
export class MailParseError extends HypwatchError {
  readonly kind = "permanent";
  constructor(
    readonly origin: string,
    readonly messageId: string | null,
    readonly reason: string,
  ) {
    super(`cannot parse ${messageId ? `<${messageId}>` : origin}: ${reason}`);
  }
}
