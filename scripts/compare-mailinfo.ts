/**
 * Compare parseMail's patch split with `git mailinfo` (what `git am` uses) on every
 * message of a public-inbox archive that carries a diff, and count the differences by
 * kind. docs/mailinfo-differences.md explains every kind.
 *
 *   npm run compare:mailinfo -- [archive] [--limit N] [--examples N] [--dump DIR] [--json]
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Command } from "commander";
import { readPublicInbox, type RawMail, type SourceError } from "../src/intake/index.js";
import { gitMailinfo, type MailinfoResult } from "../src/io/mailinfo.js";
import { MailParseError, parseDiff, parseMail, stripListFooters } from "../src/mail/index.js";
import type { MailMessage } from "../src/mail/index.js";
import { corpusPath } from "../test/corpus.js";

interface Options {
  limit?: string;
  examples: string;
  dump?: string;
  json?: boolean;
  concurrency: string;
}

const MAY_HOLD_DIFF = /^(diff -|Index: |--- )|base64|quoted-printable/im;

/** The patch text of `git mailinfo` from its first diff line on, or null. */
export function mailinfoDiff(patchFile: string): string | null {
  const lines = patchFile.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (
      line.startsWith("diff -") ||
      line.startsWith("Index: ") ||
      (line.startsWith("--- ") && (lines[i + 1] ?? "").startsWith("+++ "))
    ) {
      const diff = lines.slice(i).join("\n");
      return parseDiff(lines.slice(i)).length > 0 ? diff : null;
    }
  }
  return null;
}

const HTML = /<br\b|<\/?(pre|div|p|span|blockquote|html|body)\b|&gt;|&lt;|&amp;|&#43;/i;
/** mailinfo lost track of the MIME structure: boundaries and part headers in its text. */
const MIME_LEFTOVERS = /^(Content-Type: |Content-Transfer-Encoding: |--[-=_A-Za-z0-9.]{12,}$)/m;

const noFooter = (text: string): string => stripListFooters(text).text;
const noCr = (text: string): string => text.replace(/\r\n/g, "\n");

/** Why our diff differs from mailinfo's; the names are the sections of the doc. */
export function classifyDiff(ours: MailMessage, theirs: string | null, mi: MailinfoResult): string {
  const mine = ours.patch?.diff ?? null;
  if (mine === theirs) return "identical";
  if (theirs !== null) {
    if (mine === noFooter(theirs)) return "list-footer-stripped";
    if (mine === noFooter(noCr(theirs))) return "mailinfo-keeps-cr";
    if (HTML.test(theirs) && (mine === null || !HTML.test(mine))) return "mailinfo-reads-html-part";
    if (mine !== null && noCr(theirs).startsWith(mine)) return "mailinfo-keeps-later-parts";
  }
  if (mi.patchNotUtf8) {
    // Read the way the mail declares it (the one such message is ISO-8859-1).
    const latin1 = mailinfoDiff(mi.patchBytes.toString("latin1"));
    if (latin1 !== null && mine === noFooter(latin1)) return "mailinfo-keeps-charset";
  }
  if (MIME_LEFTOVERS.test(mi.message)) return "mailinfo-misreads-mime";
  if (HTML.test(mi.message) && !HTML.test(ours.body)) return "mailinfo-reads-html-part";
  if (ours.warnings.some((w) => w.kind === "format-flowed-patch")) return "format-flowed";
  if (mine === null) return "no-diff-in-ours";
  if (theirs === null) return "no-diff-in-mailinfo";
  return "other";
}

export function classifyMessage(ours: MailMessage, mi: MailinfoResult): string {
  const mine = ours.patch?.commitMessage ?? null;
  if (mine === mi.message) return "identical";
  if (mine !== null && mine === noCr(mi.message)) return "mailinfo-keeps-cr";
  if (MIME_LEFTOVERS.test(mi.message)) return "mailinfo-misreads-mime";
  if (HTML.test(mi.message) || HTML.test(mi.patch)) return "mailinfo-reads-html-part";
  if (mine === null) return "no-patch-in-ours";
  return "other";
}

async function main(): Promise<void> {
  const program = new Command()
    .argument("[archive]", "public-inbox epoch", corpusPath("kvmarm-0.git"))
    .option("--limit <n>", "read only the first n messages")
    .option("--examples <n>", "Message-IDs shown per kind", "3")
    .option("--dump <dir>", "write both sides of every difference here")
    .option("--concurrency <n>", "git mailinfo processes at once", "2")
    .option("--json", "print the figures as JSON")
    .parse();
  const archive = program.args[0] ?? corpusPath("kvmarm-0.git");
  const opts = program.opts<Options>();
  const limit = opts.limit === undefined ? Infinity : Number(opts.limit);
  const exampleCount = Number(opts.examples);

  const diffKinds = new Map<string, string[]>();
  const messageKinds = new Map<string, string[]>();
  const note = (kinds: Map<string, string[]>, kind: string, id: string): void => {
    const list = kinds.get(kind) ?? [];
    list.push(id);
    kinds.set(kind, list);
  };
  let read = 0;
  let withDiff = 0;
  let parseErrors = 0;
  let sourceErrors = 0;

  const compare = async (raw: RawMail): Promise<void> => {
    let ours: MailMessage;
    try {
      ours = await parseMail(raw);
    } catch (err) {
      if (!(err instanceof MailParseError)) throw err;
      parseErrors++;
      return;
    }
    // mailinfo can only find a diff our parser missed in text that has a diff line,
    // or in a body whose encoding hides it; other messages are not worth a process.
    if (ours.patch === null && !MAY_HOLD_DIFF.test(raw.raw.toString("latin1"))) return;
    const mailinfo = await gitMailinfo(raw.raw);
    const theirs = mailinfoDiff(mailinfo.patch);
    if (ours.patch === null && theirs === null) return;
    withDiff++;
    const kind = classifyDiff(ours, theirs, mailinfo);
    note(diffKinds, kind, ours.messageId);
    note(messageKinds, classifyMessage(ours, mailinfo), ours.messageId);
    if (opts.dump !== undefined && kind !== "identical" && kind !== "list-footer-stripped") {
      const dir = path.join(opts.dump, kind, ours.messageId.replace(/[^A-Za-z0-9.@-]/g, "_"));
      await mkdir(dir, { recursive: true });
      await Promise.all([
        writeFile(path.join(dir, "ours.diff"), ours.patch?.diff ?? ""),
        writeFile(path.join(dir, "mailinfo.diff"), theirs ?? ""),
        writeFile(path.join(dir, "ours.msg"), ours.patch?.commitMessage ?? ""),
        writeFile(path.join(dir, "mailinfo.msg"), mailinfo.message),
        writeFile(path.join(dir, "origin"), raw.origin + "\n"),
      ]);
    }
  };

  const concurrency = Math.max(1, Number(opts.concurrency));
  const running = new Set<Promise<void>>();
  // A message that cannot be read (a blob missing from the mirror) is named and counted, as
  // scan does, and the comparison goes on.
  const onError = (error: SourceError): void => {
    sourceErrors++;
    console.error(`hypwatch: ${error.message}`);
  };
  for await (const raw of readPublicInbox(archive, { onError })) {
    if (read >= limit) break;
    read++;
    const job = compare(raw).finally(() => running.delete(job));
    running.add(job);
    if (running.size >= concurrency) await Promise.race(running);
  }
  await Promise.all(running);

  const summary = (kinds: Map<string, string[]>): Record<string, unknown> =>
    Object.fromEntries(
      [...kinds.entries()]
        .sort((a, b) => b[1].length - a[1].length)
        .map(([kind, ids]) => [kind, { count: ids.length, examples: ids.slice(0, exampleCount) }]),
    );
  const result = {
    archive,
    messagesRead: read,
    parseErrors,
    sourceErrors,
    messagesWithDiff: withDiff,
    diff: summary(diffKinds),
    commitMessage: summary(messageKinds),
  };
  if (opts.json === true) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  console.log(`archive            ${archive}`);
  console.log(`messages read      ${read}`);
  console.log(`parse errors       ${parseErrors}`);
  console.log(`unreadable         ${sourceErrors}`);
  console.log(`messages with diff ${withDiff}`);
  for (const [title, kinds] of [
    ["patch text (diff)", diffKinds],
    ["commit message", messageKinds],
  ] as const) {
    console.log(`\n${title}:`);
    for (const [kind, ids] of [...kinds.entries()].sort((a, b) => b[1].length - a[1].length)) {
      const examples = kind === "identical" ? "" : `  e.g. ${ids.slice(0, exampleCount).join(" ")}`;
      console.log(`  ${kind.padEnd(28)} ${String(ids.length).padStart(6)}${examples}`);
    }
  }
}

await main();
