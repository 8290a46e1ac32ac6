/**
 * The generated cases of `npm run fuzz`, one kind per stage a sender's bytes reach: mbox
 * splitting, MIME parsing, subject parsing, patch extraction and series assembly. A case
 * fails (a crash) when it throws anything but the typed error that names a bad message.
 */
import fc from "fast-check";
import { SourceError, splitMbox } from "../src/intake/index.js";
import { MailParseError, parsePatch, parseMail, parseSubject } from "../src/mail/index.js";
import { assembleFromSummaries, type SeriesMail } from "../src/series/index.js";

export type FuzzKind = "mbox" | "mime" | "subject" | "patch" | "series";
export const FUZZ_KINDS: FuzzKind[] = ["mbox", "mime", "subject", "patch", "series"];

/** Pieces real mail is made of, so generated text reaches the parsers' corners. */
const mailPiece = fc.oneof(
  fc.constantFrom(
    "From ",
    ">From ",
    ">>From x",
    "From mboxrd@z Thu Jan  1 00:00:00 1970",
    "\n",
    "\r\n",
    "\n\n",
    "Subject: ",
    "Message-ID: <a@b>",
    "In-Reply-To: <a@b>",
    "References: <a@b> <c@d>",
    'Content-Type: multipart/mixed; boundary="b"',
    "Content-Transfer-Encoding: base64",
    "Content-Transfer-Encoding: quoted-printable",
    "--b",
    "--b--",
    "=?UTF-8?B?",
    "?=",
    "=C3=A9",
    "diff --git a/x b/x",
    "--- a/x",
    "+++ b/x",
    "@@ -1,99999999999 +1 @@",
    "[PATCH 1/100000000000000000000]",
    "\u001b[2J",
    "\u202e",
    "\u0000",
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 20 }),
);

const text = (maxLength: number) =>
  fc.array(mailPiece, { maxLength }).map((pieces) => pieces.join(""));

const messageId = fc.nat({ max: 30 }).map((n) => `m${n}@x`);

const subject = fc
  .tuple(
    fc.array(fc.constantFrom("Re: ", "RE: ", "Fwd: ", "Aw: ", "[", "]", "Re[2]: "), {
      maxLength: 4,
    }),
    fc.array(
      fc.oneof(
        fc.constantFrom("PATCH", "RFC", "RESEND", "GIT PULL", "PATCHv2", "v", "of", "net-next"),
        fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String),
        fc.tuple(fc.nat(), fc.bigInt({ min: 0n, max: 10n ** 25n })).map(([a, b]) => `${a}/${b}`),
        fc.string({ maxLength: 12 }),
      ),
      { maxLength: 8 },
    ),
    fc.string({ maxLength: 30 }),
  )
  .map(([prefixes, tags, stem]) => `${prefixes.join("")}[${tags.join(" ")}] ${stem}`);

const multipartBody: fc.Arbitrary<string> = fc.letrec<{ part: string }>((tie) => ({
  part: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc
      .tuple(
        fc.constantFrom("text/plain", "text/x-patch", "text/html", "application/octet-stream"),
        fc.constantFrom("7bit", "base64", "quoted-printable", "x-unknown"),
        fc.constantFrom("utf-8", "iso-8859-1", "gb2312", "x-bogus"),
        text(10),
      )
      .map(
        ([type, cte, charset, body]) =>
          `Content-Type: ${type}; charset=${charset}\nContent-Transfer-Encoding: ${cte}\n\n${body}\n`,
      ),
    fc
      .tuple(fc.nat({ max: 5 }), fc.array(tie("part"), { maxLength: 4 }), fc.boolean())
      .map(([n, parts, closed]) => {
        const b = `b${n}`;
        const inner = parts.map((p) => `--${b}\n${p}`).join("\n");
        return `Content-Type: multipart/mixed; boundary="${b}"\n\n${inner}\n${closed ? `--${b}--\n` : ""}`;
      }),
  ),
})).part;

const summary = fc
  .record({
    id: messageId,
    parent: fc.option(messageId),
    refs: fc.array(messageId, { maxLength: 4 }),
    subject,
    author: fc.constantFrom("a@x", "b@x"),
    hasDiff: fc.boolean(),
    changeId: fc.option(fc.constantFrom("c1", "c2")),
  })
  .map((r): Omit<SeriesMail, "seq"> => ({
    messageId: r.id,
    inReplyTo: r.parent,
    references: r.refs,
    subject: parseSubject(r.subject),
    author: { name: r.author, email: r.author },
    date: null,
    hasDiff: r.hasDiff,
    files: r.hasDiff ? ["arch/arm64/kvm/x.c"] : [],
    trailers: [],
    replyTrailers: [
      { name: "Reviewed-by", value: r.author, person: { name: "", email: r.author } },
    ],
    changeId: r.changeId,
    baseCommit: null,
    automated: false,
    parseScore: 0,
  }));

/** The generator of one kind's cases; each case is a plain, structured-cloneable value. */
export function arbitraryOf(kind: FuzzKind): fc.Arbitrary<unknown> {
  switch (kind) {
    case "mbox":
      return fc.tuple(text(60), fc.array(fc.nat({ max: 200 }), { maxLength: 6 }));
    case "mime":
      return fc.tuple(fc.string({ maxLength: 30 }), multipartBody);
    case "subject":
      return subject;
    case "patch":
      return text(80);
    case "series":
      return fc.array(summary, { maxLength: 40 });
  }
}

const expected = (error: unknown): boolean =>
  error instanceof MailParseError || error instanceof SourceError;

/** Run one case; throws only on a crash (an error no caller is prepared for). */
export async function runCase(kind: FuzzKind, input: unknown): Promise<void> {
  try {
    switch (kind) {
      case "mbox": {
        const [body, cuts] = input as [string, number[]];
        const bytes = Buffer.from(body, "latin1");
        const chunks: Buffer[] = [];
        let at = 0;
        for (const cut of cuts) {
          chunks.push(bytes.subarray(at, Math.min(bytes.length, at + cut)));
          at = Math.min(bytes.length, at + cut);
        }
        chunks.push(bytes.subarray(at));
        for await (const raw of splitMbox(chunks, "fuzz.mbox", { onError: () => {} }))
          await parseMail(raw).catch((e: unknown) => {
            if (!expected(e)) throw e;
          });
        return;
      }
      case "mime": {
        const [subj, body] = input as [string, string];
        const raw = `From: a@x\nMessage-ID: <f@x>\nSubject: ${subj}\nMIME-Version: 1.0\n${body}`;
        await parseMail({ raw: Buffer.from(raw, "latin1"), origin: "fuzz#1" });
        return;
      }
      case "subject":
        parseSubject(input as string);
        await parseMail({
          raw: Buffer.from(`From: a@x\nMessage-ID: <s@x>\nSubject: ${input as string}\n\nx\n`),
          origin: "fuzz#1",
        });
        return;
      case "patch":
        parsePatch(input as string);
        return;
      case "series": {
        const mails = (input as Omit<SeriesMail, "seq">[]).map((m, seq) => ({ ...m, seq }));
        assembleFromSummaries(mails, { onLimit: () => {} });
        return;
      }
    }
  } catch (error) {
    if (!expected(error)) throw error;
  }
}

/** `count` cases of one kind from `seed`, the same on every run. */
export function casesOf(kind: FuzzKind, seed: number, count: number): unknown[] {
  return fc.sample(arbitraryOf(kind), { seed, numRuns: count });
}
