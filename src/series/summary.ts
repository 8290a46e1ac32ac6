import type { MailMessage, ParsedSubject, Person, Trailer } from "../mail/types.js";
import { defaultParseScore } from "./threads.js";

/**
 * What series assembly keeps of a mail: ids, subject, author, date, file list, trailers and
 * footers. No body, no hunks, so a whole archive fits in memory.
 */
export interface SeriesMail {
  messageId: string;
  inReplyTo: string | null;
  references: string[];
  subject: ParsedSubject;
  author: Person;
  date: Date | null;
  /** Arrival order: the position in the input, which backdated Date headers cannot fake. */
  seq: number;
  /** The mail carries a diff. */
  hasDiff: boolean;
  /** Every path the diff touches, old and new names of renames included, in diff order. */
  files: string[];
  /** The patch's own trailers (Signed-off-by, Reviewed-by carried from earlier versions, …). */
  trailers: Trailer[];
  /** Review trailers given in the body of a reply. */
  replyTrailers: Trailer[];
  /** b4's `change-id`, from a patch's footers or a cover letter's body. */
  changeId: string | null;
  automated: boolean;
  /** See `defaultParseScore`; chooses between two copies of one Message-ID. */
  parseScore: number;
}

const CHANGE_ID = /^change-id:[ \t]*(\S+)[ \t]*$/im;
/** Mercurial's patchbomb counts "[PATCH 1 of 2]". */
const HG_COUNTER = /^\[[^\]]*?\b(\d+) of (\d+)\]/i;

function withCounter(subject: ParsedSubject): ParsedSubject {
  if (subject.index !== null || subject.isReply) return subject;
  const hg = HG_COUNTER.exec(subject.raw);
  if (!hg) return subject;
  return { ...subject, isPatch: true, index: Number(hg[1]), total: Number(hg[2]) };
}

/** Reduce a parsed mail to what series assembly needs. */
export function summarizeMail(message: MailMessage, seq: number): SeriesMail {
  const files: string[] = [];
  for (const file of message.patch?.files ?? []) {
    for (const path of [file.oldPath, file.newPath]) {
      if (path !== null && !files.includes(path)) files.push(path);
    }
  }
  const changeId =
    message.patch?.metadata.changeId ?? CHANGE_ID.exec(message.body)?.[1]?.trim() ?? null;
  return {
    messageId: message.messageId,
    inReplyTo: message.inReplyTo,
    references: message.references,
    subject: withCounter(message.subject),
    author: message.author,
    date: message.date,
    seq,
    hasDiff: message.patch !== null,
    files,
    trailers: message.patch?.trailers ?? [],
    replyTrailers: message.replyTrailers,
    changeId,
    automated: message.automated,
    parseScore: defaultParseScore(message),
  };
}
