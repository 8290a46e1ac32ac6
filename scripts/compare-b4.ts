/**
 * How far series assembly agrees with b4 on real threads.
 *
 * Reads the kvmarm archive (or the public-inbox epoch given), threads it, picks threads with
 * patch series deterministically (every partial re-roll, multi-version threads, then evenly
 * spaced single-version threads), writes each thread as an mbox and runs `b4 am` on it
 * offline. Then compares the newest series: same version, same patches in the same order
 * (by Message-ID), the same author of each patch (b4 writes the git author, the in-body
 * From, as From), and the same review trailers. Works on any list's archive (the kvmarm
 * corpus by default; `../shared/corpus/kvm-ppc-0.git` is a second whole list). Messages that
 * cannot be read are named on stderr and counted, as scan does; bot mail is no series, so a
 * thread of only bot mail is never picked.
 *
 *   npm run compare:b4 -- [--threads 60] [--verbose] [--keep] [archive]
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { b4Am, b4Version } from "../src/io/b4.js";
import { mboxrdEntry, readPublicInbox, splitMbox, type SourceError } from "../src/intake/index.js";
import { MailParseError, parseMail, type MailMessage } from "../src/mail/index.js";
import {
  assembleFromSummaries,
  assembleSeries,
  buildThreads,
  summarizeMail,
  walkThread,
  type SeriesMail,
} from "../src/series/index.js";
import type { Series } from "../src/series/types.js";
import { corpusPath } from "../test/corpus.js";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const at = args.indexOf(name);
  if (at < 0) return undefined;
  const value = args[at + 1];
  args.splice(at, 2);
  return value;
};
const wanted = Number(flag("--threads") ?? 60);
const verbose = args.includes("--verbose");
const keep = args.includes("--keep");
const archive = args.filter((a) => !a.startsWith("--"))[0] ?? corpusPath("kvmarm-0.git");

const REVIEW = new Set(["Reviewed-by", "Acked-by", "Tested-by"]);

interface Candidate {
  rootId: string;
  mails: SeriesMail[];
  kind: "partial-reroll" | "multi-version" | "single-version";
}

async function parseAll(raws: Buffer[], name: string): Promise<MailMessage[]> {
  const out: MailMessage[] = [];
  for (const [i, raw] of raws.entries()) {
    try {
      out.push(await parseMail({ raw, origin: `${name}#${i + 1}` }));
    } catch (error) {
      if (!(error instanceof MailParseError)) throw error;
      console.error(error.message);
    }
  }
  return out;
}

async function mboxMessages(mbox: Buffer, name: string): Promise<MailMessage[]> {
  const raws: Buffer[] = [];
  for await (const mail of splitMbox([mbox], name)) raws.push(mail.raw);
  return parseAll(raws, name);
}

const reviewTrailers = (trailers: { name: string; value: string }[]): string =>
  trailers
    .filter((t) => REVIEW.has(t.name))
    .map((t) => `${t.name}: ${t.value}`)
    .sort()
    .join(" | ");

/** b4 takes the highest version in a thread; of two series of that version, the first. */
function ourPick(all: Series[]): Series | undefined {
  const withPatches = all.filter((s) => s.patches.length > 0);
  const top = Math.max(...withPatches.map((s) => s.version));
  return withPatches.find((s) => s.version === top);
}

/**
 * b4 0.12 on Python 3.11 crashes on a folded Subject (it copies the header with its line
 * break into a new message and the email package refuses it). Unfolding is what RFC 5322
 * says a reader does anyway, so b4 gets the thread with Subject unfolded; we read the mail
 * as it was sent.
 */
function unfoldSubjectForB4(raw: Buffer): Buffer {
  const text = raw.toString("latin1");
  const end = text.search(/\r?\n\r?\n/);
  const head = end < 0 ? text : text.slice(0, end);
  const unfolded = head.replace(
    /^(Subject:[^\n]*?)((?:\r?\n[ \t][^\n]*)+)/im,
    (_, first: string, rest: string) =>
      first.replace(/\r$/, "") + rest.replace(/\r?\n(?=[ \t])/g, "").replace(/\r$/, ""),
  );
  return unfolded === head ? raw : Buffer.from(unfolded + text.slice(head.length), "latin1");
}

function evenly<T>(items: T[], count: number): T[] {
  if (items.length <= count) return items;
  const step = items.length / count;
  return Array.from({ length: count }, (_, i) => items[Math.floor(i * step)]).filter(
    (x): x is T => x !== undefined,
  );
}

async function main(): Promise<void> {
  const version = await b4Version();
  if (!version) throw new Error("b4 is not installed");

  // Pass 1: summaries of the whole archive, and where each message is.
  const summaries: SeriesMail[] = [];
  const commitOf = new Map<string, string>();
  let seq = 0;
  let unreadable = 0;
  let parseErrors = 0;
  let botMail = 0;
  const onError = (error: SourceError): void => {
    unreadable++;
    console.error(`hypwatch: ${error.message}`);
  };
  for await (const raw of readPublicInbox(archive, { onError })) {
    try {
      const mail = summarizeMail(await parseMail(raw), seq++);
      summaries.push(mail);
      if (mail.botMail) botMail++;
      if (raw.commit && !commitOf.has(mail.messageId)) commitOf.set(mail.messageId, raw.commit);
    } catch (error) {
      if (!(error instanceof MailParseError)) throw error;
      parseErrors++;
    }
  }

  const candidates: Candidate[] = [];
  for (const root of buildThreads(summaries, { parseScore: (m) => m.parseScore })) {
    const mails = [...walkThread(root)]
      .map((n) => n.message)
      .filter((m): m is SeriesMail => m !== null)
      .sort((a, b) => a.seq - b.seq);
    const series = assembleFromSummaries(mails).filter((s) => s.patches.length > 0);
    if (series.length === 0 || !series.some((s) => s.total > 1)) continue;
    const versionOf = new Map(mails.map((m) => [m.messageId, m.subject.version]));
    const stitched = series.some((s) =>
      s.patches.some((p) => s.coverMessageId === null && versionOf.get(p.messageId) !== s.version),
    );
    const versions = new Set(series.map((s) => s.version));
    const first = mails[0];
    if (!first) continue;
    candidates.push({
      rootId: first.messageId,
      mails,
      kind: stitched ? "partial-reroll" : versions.size > 1 ? "multi-version" : "single-version",
    });
  }
  const of = (kind: Candidate["kind"]): Candidate[] => candidates.filter((c) => c.kind === kind);
  const rerolls = of("partial-reroll").slice(0, 15);
  const multi = evenly(of("multi-version"), Math.max(0, Math.min(20, wanted - rerolls.length)));
  const single = evenly(of("single-version"), Math.max(0, wanted - rerolls.length - multi.length));
  const chosen = [...rerolls, ...multi, ...single];
  console.log(
    `b4 ${version}; ${archive}: ${summaries.length + parseErrors + unreadable} messages ` +
      `(${unreadable} unreadable, ${parseErrors} unparseable, ${botMail} bot mail); ` +
      `${candidates.length} threads with patch series ` +
      `(${of("partial-reroll").length} partial re-rolls, ${of("multi-version").length} multi-version); ` +
      `comparing ${chosen.length}`,
  );

  // Pass 2: the raw mail of the chosen threads.
  const needed = new Set(chosen.flatMap((c) => c.mails.map((m) => commitOf.get(m.messageId))));
  const rawByCommit = new Map<string, Buffer>();
  for await (const raw of readPublicInbox(archive, { onError: () => {} })) {
    if (raw.commit && needed.has(raw.commit)) rawByCommit.set(raw.commit, raw.raw);
  }

  const dir = await mkdtemp(path.join(tmpdir(), "hypwatch-compare-b4-"));
  const counts = {
    threads: 0,
    agree: 0,
    differ: 0,
    b4Failed: 0,
    sameCover: 0,
    patchesCompared: 0,
    trailersDiffer: 0,
    authorsDiffer: 0,
  };
  const byKind: Record<string, { agree: number; differ: number }> = {};
  try {
    for (const [n, thread] of chosen.entries()) {
      counts.threads++;
      const kindCount = (byKind[thread.kind] ??= { agree: 0, differ: 0 });
      const raws = thread.mails
        .map((m) => rawByCommit.get(commitOf.get(m.messageId) ?? ""))
        .filter((r): r is Buffer => r !== undefined);
      const mbox = path.join(dir, `thread-${n + 1}.mbox`);
      await writeFile(mbox, Buffer.concat(raws.map((raw) => mboxrdEntry(unfoldSubjectForB4(raw)))));

      const ours = ourPick(assembleSeries(await parseAll(raws, mbox)));
      const b4 = await b4Am(mbox, thread.rootId, { applyCoverTrailers: true });
      const tag = `[${thread.kind}] <${thread.rootId}>`;
      if (!b4.mbx) {
        counts.b4Failed++;
        console.log(`B4-FAILED ${tag} exit ${b4.exitCode}: ${b4.log.trim().split("\n").pop()}`);
        continue;
      }
      const theirs = await mboxMessages(b4.mbx, "b4.mbx");
      const theirCover = b4.cover ? (await parseAll([b4.cover], "b4.cover"))[0] : undefined;
      const theirVersion = Math.max(...theirs.map((m) => m.subject.version));
      const theirIds = theirs.map((m) => m.messageId);
      const ourIds = ours?.patches.map((p) => p.messageId) ?? [];
      const same =
        ours !== undefined &&
        ours.version === theirVersion &&
        ourIds.length === theirIds.length &&
        ourIds.every((id, i) => id === theirIds[i]);
      const theirCoverId = theirCover?.messageId ?? null;
      if (theirCoverId === (ours?.coverMessageId ?? null)) counts.sameCover++;
      else console.log(`COVER ${tag}\n   ours: ${ours?.coverMessageId}\n   b4:   ${theirCoverId}`);
      if (same) {
        counts.agree++;
        kindCount.agree++;
        for (const [i, mail] of theirs.entries()) {
          counts.patchesCompared++;
          const ourAuthor = ours.patches[i]?.author.email.toLowerCase() ?? "";
          const b4Author = mail.from.email.toLowerCase();
          if (ourAuthor !== b4Author) {
            counts.authorsDiffer++;
            console.log(
              `AUTHOR ${tag} <${mail.messageId}>\n   ours: ${ourAuthor}\n   b4:   ${b4Author}`,
            );
          }
          const mine = reviewTrailers(ours.patches[i]?.trailers ?? []);
          const b4s = reviewTrailers(mail.patch?.trailers ?? []);
          if (mine !== b4s) {
            counts.trailersDiffer++;
            console.log(`TRAILERS ${tag} <${mail.messageId}>\n   ours: ${mine}\n   b4:   ${b4s}`);
          }
        }
        if (verbose) console.log(`AGREE ${tag} v${theirVersion} ${theirIds.length} patches`);
      } else {
        counts.differ++;
        kindCount.differ++;
        console.log(
          `DIFFER ${tag}\n   ours: v${ours?.version} ${ours?.id} [${ours?.patches.map((p) => `${p.index}:${p.messageId}`).join(" ")}]` +
            `\n   b4:   v${theirVersion} [${theirs.map((m) => `${m.subject.index}:${m.messageId}`).join(" ")}]`,
        );
      }
    }
  } finally {
    if (keep) console.log(`threads kept in ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ ...counts, byKind }));
}

await main();
