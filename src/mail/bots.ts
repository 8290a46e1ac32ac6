import { parseAddresses } from "./headers.js";
import type { BotMail, BotMailKind, ParsedSubject, Person } from "./types.js";

/**
 * A program that mails kernel lists. The one list of known bot senders: mail parsing marks
 * their mail automated, series assembly keeps their mail out of series and their "trailers"
 * out of reviews, and the reply side never answers them.
 */
export interface KnownBot {
  /** What people call it. */
  name: string;
  /** Its usual address, lower case (the reply side compares addresses). */
  address: string;
  /** Every address it sends from. */
  match: RegExp;
}

export const KNOWN_BOTS: readonly KnownBot[] = [
  {
    name: "kernel test robot",
    address: "lkp@intel.com",
    match: /^lkp@intel\.com$/,
  },
  { name: "kbuild", address: "kbuild-all@lists.01.org", match: /^kbuild-all@/ },
  {
    name: "syzbot",
    address: "syzbot@syzkaller.appspotmail.com",
    match: /^syzbot.*@syzkaller\.appspotmail\.com$/,
  },
  {
    name: "patchwork-bot",
    address: "patchwork-bot@kernel.org",
    match: /^patchwork-bot(\+.*)?@kernel\.org$/,
  },
  {
    name: "patchwork-bot (netdev/bpf)",
    address: "patchwork-bot+netdevbpf@kernel.org",
    match: /^patchwork-bot\+netdevbpf@kernel\.org$/,
  },
  {
    name: "pr-tracker-bot",
    address: "pr-tracker-bot@kernel.org",
    match: /^pr-tracker-bot@kernel\.org$/,
  },
  { name: "KernelCI", address: "bot@kernelci.org", match: /^bot@kernelci\.org$/ },
  {
    name: "tip-bot",
    address: "tip-bot2@linutronix.de",
    match: /^tip-bot2?@linutronix\.de$|^tipbot@zytor\.com$/,
  },
  { name: "GitHub", address: "noreply@github.com", match: /^noreply@github\.com$/ },
  { name: "a CI system", address: "noreply@ci.linaro.org", match: /^noreply@ci\./ },
  { name: "a no-reply sender", address: "no-reply@kernel.org", match: /^no-?reply@/ },
  {
    name: "a mail server",
    address: "mailer-daemon@kernel.org",
    match: /^(mailer-daemon|postmaster)@/,
  },
  { name: "a build bot", address: "k.bot@kernel.org", match: /^k\.bot@/ },
];

/** Display names of bots whose address varies. */
const BOT_NAMES =
  /\b(kernel test robot|kbuild test robot|syzbot|patchwork-bot|kernelci\.org bot)\b/i;

/** The addresses of the known bots, for code that compares addresses. */
export const KNOWN_BOT_ADDRESSES: readonly string[] = KNOWN_BOTS.map((b) => b.address);

/** The known bot that sent mail from `sender`, if any. */
export function knownBot(sender: Person): KnownBot | undefined {
  const email = sender.email.toLowerCase();
  const bot = KNOWN_BOTS.find((b) => b.match.test(email));
  if (bot) return bot;
  const name = BOT_NAMES.exec(sender.name)?.[1];
  return name === undefined ? undefined : { name, address: email, match: /$^/ };
}

/** Who a bot is: what it answers and obeys is never its own mail nor another bot's. */
export interface BotIdentity {
  /** Its own address, lower case. */
  address: string;
  /** The domain of its own Message-IDs. */
  messageIdDomain: string;
  /** Other bots' addresses, besides the known bots (`KNOWN_BOTS`). */
  botAddresses: readonly string[];
}

/** The address of `Name <address>` (or of a bare address); "" when there is none. */
export function emailOf(text: string): string {
  return parseAddresses(text)[0]?.email ?? "";
}

/** The domain of a Message-ID, lower case. */
export const messageIdDomain = (id: string): string =>
  id.slice(id.lastIndexOf("@") + 1).toLowerCase();

/**
 * Mail a bot must neither answer nor obey, so that two bots cannot talk to each other
 * forever: marked automated, sent from the bot's own address or a known bot's, or carrying
 * a Message-ID on the bot's own domain.
 */
export function isBotMail(
  mail: { author: Person; messageId: string; automated: boolean },
  bot: BotIdentity,
): boolean {
  const email = mail.author.email.toLowerCase();
  return (
    mail.automated ||
    email === bot.address.toLowerCase() ||
    knownBot(mail.author) !== undefined ||
    bot.botAddresses.some((a) => a.toLowerCase() === email) ||
    messageIdDomain(mail.messageId) === bot.messageIdDomain.toLowerCase()
  );
}

/** What `classifyBotMail` reads of a message. */
export interface BotMailInput {
  /** A header's value (the first of its name), or null. */
  header: (name: string) => string | null;
  from: Person;
  subject: ParsedSubject;
  /** The decoded text; only its first lines are read. */
  body: string;
}

/** The stable queue's notice: `Patch "X" has been added to the 5.10-stable tree`. */
const STABLE_NOTICE_SUBJECT = /^patch ".*" has been added to the .*tree$/i;
const STABLE_NOTICE_BODY = /^This is a note to let you know that I've just added the patch titled/m;
/** tip-bot's `[tip: x86/urgent] x86/foo: Fix bar`, and its body. */
const COMMIT_NOTICE_SUBJECT = /^\[tip: [^\]]+\]/i;
const COMMIT_NOTICE_BODY = /^The following commit has been merged into the \S+ branch of \S+:/m;
const COMMIT_NOTICE_MAILER = /tip-git-log-daemon/i;
/** A CI bisection report ("syzbot has bisected this issue to:", KernelCI's "bisection:"). */
const CI_REPORT_BODY =
  /^(syzbot has bisected this (issue|bug)|bisection is inconclusive|\S+ bisection: |The bisection (has )?(identified|found))/im;
/** "Applied to fixes, thanks!", "Thanks, applied.", "Queued, thanks." before the diff. */
const APPLIED_BODY =
  /^(applied|queued|pushed|merged|picked up)\b[^\n]*\bthanks?\b|^thanks,? (applied|queued|picked up)\b/im;

/** The text before a diff, capped: body shapes are read there only. */
function head(body: string): string {
  const start = body.slice(0, 4000);
  const diff = start.search(/^(diff --git |---\s*$|Index: )/m);
  return diff < 0 ? start : start.slice(0, diff);
}

/** The whole line of `text` at `index`, trimmed. */
function lineAt(text: string, index: number): string {
  const end = text.indexOf("\n", index);
  return text.slice(index, end < 0 ? text.length : end).trim();
}

/**
 * The first lines a reader sees, without an attribution ("On ..., X wrote:") and quoted
 * text: where a report or a thank-you says what it is. A cover letter's changelog that
 * mentions applying something further down is not read.
 */
function opening(text: string): string {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith(">") && !/^On .*wrote:$/.test(l))
    .slice(0, 3)
    .join("\n");
}

/**
 * Mail sent by a program that quotes a diff but is no patch posted for review: a commit or
 * stable-queue notice, a CI report, an "applied, thanks" answer. Null for mail people
 * post, and for replies and forwards, which are never patches anyway. Each verdict says
 * which header, sender or body line decided it.
 */
export function classifyBotMail(mail: BotMailInput): BotMail | null {
  // A reply or a forward is never a patch posted for review, whoever sent it.
  if (mail.subject.isReply || mail.subject.isForward) return null;
  const auto = mail.header("auto-submitted")?.trim();
  if (auto && auto.toLowerCase() !== "no") {
    return { kind: "auto-submitted", reason: `Auto-Submitted: ${auto}` };
  }
  const stable = mail.header("x-stable")?.trim().toLowerCase();
  if (stable === "commit") return { kind: "stable-queue", reason: "X-stable: commit" };
  if (STABLE_NOTICE_SUBJECT.test(mail.subject.raw)) {
    return { kind: "stable-queue", reason: "subject says the patch was added to a stable tree" };
  }
  const mailer = mail.header("x-mailer")?.trim();
  if (mailer && COMMIT_NOTICE_MAILER.test(mailer)) {
    return { kind: "commit-notice", reason: `X-Mailer: ${mailer}` };
  }
  if (COMMIT_NOTICE_SUBJECT.test(mail.subject.raw)) {
    return { kind: "commit-notice", reason: "subject names the tip branch the commit went to" };
  }
  // Sent by a tool that asks Patchwork not to track it (AUTOSEL's stable backports too).
  if (mail.header("x-patchwork-hint")?.trim().toLowerCase() === "ignore") {
    return { kind: "patchwork-ignore", reason: "X-Patchwork-Hint: ignore" };
  }
  const bot = knownBot(mail.from);
  if (bot) {
    return { kind: "known-bot", reason: `sent by ${bot.name} (${mail.from.email.toLowerCase()})` };
  }
  const text = head(mail.body);
  const first = opening(text);
  const shapes: [RegExp, string, BotMailKind][] = [
    [STABLE_NOTICE_BODY, text, "stable-queue"],
    [COMMIT_NOTICE_BODY, text, "commit-notice"],
    [CI_REPORT_BODY, first, "ci-report"],
    [APPLIED_BODY, first, "applied-notice"],
  ];
  for (const [shape, where, kind] of shapes) {
    const found = shape.exec(where);
    if (found) return { kind, reason: `body: "${lineAt(where, found.index)}"` };
  }
  return null;
}
