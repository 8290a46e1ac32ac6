import { parseCommands, type BotCommand } from "../mail/commands.js";
import type { BotMail, MailMessage, ParsedSubject, Person, Trailer } from "../mail/types.js";
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
  /** A patch's in-body `From:`, who `git am` records as author; absent when there is none. */
  gitAuthor?: Person;
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
  /** `base-commit:` of a patch or cover letter: where a check applies the series. */
  baseCommit: string | null;
  automated: boolean;
  /** Sent by a program, not posted for review (src/mail/bots.ts); absent for people's mail. */
  botMail?: BotMail;
  /** `#hypwatch ...` lines of a reply (src/mail/commands.ts); none in patches or bot mail. */
  commands?: BotCommand[];
  /** For a mail with commands: the addresses in its To and Cc (is the bot addressed?). */
  recipients?: string[];
  /** See `defaultParseScore`; chooses between two copies of one Message-ID. */
  parseScore: number;
}

const CHANGE_ID = /^change-id:[ \t]*(\S+)[ \t]*$/im;
/** A reply's commands to the bot, with the addresses it went to; nothing for other mail. */
function commandsOf(
  message: MailMessage,
  keep: (text: string) => string,
): Pick<SeriesMail, "commands" | "recipients"> {
  if (message.patch !== null || message.automated || !message.body.includes("#hypwatch")) return {};
  const commands = parseCommands(message.body);
  if (commands.length === 0) return {};
  return {
    commands: commands.map((c) => ({
      verb: c.verb,
      argument: c.argument === null ? null : keep(c.argument),
      line: keep(c.line),
    })),
    recipients: [...message.to, ...message.cc].map((p) => keep(p.email.toLowerCase())),
  };
}

/** Mercurial's patchbomb counts "[PATCH 1 of 2]". */
const HG_COUNTER = /^\[[^\]]*?\b(\d+) of (\d+)\]/i;

function withCounter(subject: ParsedSubject): ParsedSubject {
  if (subject.index !== null || subject.isReply) return subject;
  const hg = HG_COUNTER.exec(subject.raw);
  if (!hg) return subject;
  return { ...subject, isPatch: true, index: Number(hg[1]), total: Number(hg[2]) };
}

/**
 * A copy of a string that does not share memory with the one it came from. Strings cut out of
 * a decoded mail keep the whole mail alive in V8; a summary must not.
 */
export function detachString(text: string): string {
  return Buffer.from(text, "utf8").toString("utf8");
}

/** Interns strings (paths, addresses, trailer names repeat a lot), each stored detached. */
export function stringPool(): (text: string) => string {
  const pool = new Map<string, string>();
  return (text) => {
    let kept = pool.get(text);
    if (kept === undefined) {
      kept = detachString(text);
      pool.set(kept, kept);
    }
    return kept;
  };
}

function keepPerson(person: Person, keep: (text: string) => string): Person {
  return { name: keep(person.name), email: keep(person.email) };
}

function keepTrailer(trailer: Trailer, keep: (text: string) => string): Trailer {
  const kept: Trailer = { name: keep(trailer.name), value: keep(trailer.value) };
  if (trailer.person) kept.person = keepPerson(trailer.person, keep);
  return kept;
}

function baseCommitOf(message: MailMessage): string | null {
  const base = message.patch?.metadata.baseCommit ?? message.metadata?.baseCommit ?? null;
  return base === null ? null : detachString(base);
}

/**
 * Reduce a parsed mail to what series assembly needs, every string detached from the mail
 * (through `keep`, an interning pool when summarizing many mails).
 */
export function summarizeMail(
  message: MailMessage,
  seq: number,
  keep: (text: string) => string = detachString,
): SeriesMail {
  const files: string[] = [];
  for (const file of message.patch?.files ?? []) {
    for (const path of [file.oldPath, file.newPath]) {
      if (path !== null && !files.includes(path)) files.push(keep(path));
    }
  }
  const changeId =
    message.patch?.metadata.changeId ?? CHANGE_ID.exec(message.body)?.[1]?.trim() ?? null;
  const subject = withCounter(message.subject);
  return {
    messageId: detachString(message.messageId),
    inReplyTo: message.inReplyTo === null ? null : keep(message.inReplyTo),
    references: message.references.map(keep),
    subject: {
      ...subject,
      raw: detachString(subject.raw),
      stem: detachString(subject.stem),
      tags: subject.tags.map(keep),
    },
    author: keepPerson(message.author, keep),
    ...(message.patch?.inBodyFrom ? { gitAuthor: keepPerson(message.patch.inBodyFrom, keep) } : {}),
    date: message.date,
    seq,
    hasDiff: message.patch !== null,
    files,
    trailers: (message.patch?.trailers ?? []).map((t) => keepTrailer(t, keep)),
    replyTrailers: message.replyTrailers.map((t) => keepTrailer(t, keep)),
    changeId: changeId === null ? null : keep(changeId),
    baseCommit: baseCommitOf(message),
    automated: message.automated,
    ...(message.botMail
      ? { botMail: { kind: message.botMail.kind, reason: detachString(message.botMail.reason) } }
      : {}),
    ...commandsOf(message, keep),
    parseScore: defaultParseScore(message),
  };
}
