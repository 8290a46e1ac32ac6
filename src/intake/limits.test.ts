import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MAIL_LIMITS } from "../mail/limits.js";
import { corpusPath } from "../../test/corpus.js";
import { gzipBomb, mail, mbox } from "../../test/hostile-mail.js";
import type { SourceError } from "./errors.js";
import { readSource } from "./source.js";
import { splitMbox } from "./mbox.js";
import type { RawMail } from "./types.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "hypwatch-limits-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readAll(
  source: string,
  limits = DEFAULT_MAIL_LIMITS,
): Promise<{ mails: RawMail[]; errors: SourceError[] }> {
  const mails: RawMail[] = [];
  const errors: SourceError[] = [];
  for await (const m of readSource(source, { limits, onError: (e) => errors.push(e) }))
    mails.push(m);
  return { mails, errors };
}

const ordinary = (id: string) => mail({ id, subject: `[PATCH] ${id}` });

describe("mbox limits", () => {
  it("drops a message over the size limit as it streams by and reads the next", async () => {
    const big = mail({ id: "big@x", subject: "big", body: "a\n".repeat(400_000) });
    const chunks = [Buffer.from(mbox([ordinary("one@x"), big, ordinary("two@x")]))];
    const errors: SourceError[] = [];
    const mails: RawMail[] = [];
    const limits = { ...DEFAULT_MAIL_LIMITS, maxMessageBytes: 100_000 };
    for await (const m of splitMbox(chunks, "t.mbox", { limits, onError: (e) => errors.push(e) }))
      mails.push(m);
    expect(mails.map((m) => m.origin)).toEqual(["t.mbox#1", "t.mbox#3"]);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toContain("t.mbox#2");
    expect(errors[0]?.reason).toContain("HYPWATCH_MAX_MESSAGE_BYTES");
  });

  it("drops a message whose line has no end in sight, without holding the line", async () => {
    // 64 MB of one line, in 64 kB chunks: held whole (and copied per chunk) before.
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    function* stream(): Generator<Buffer> {
      yield Buffer.from(mbox([ordinary("one@x")]) + "From mboxrd@z x\nSubject: long\n\n");
      for (let i = 0; i < 1024; i++) yield chunk;
      yield Buffer.from("\n" + mbox([ordinary("two@x")]));
    }
    const errors: SourceError[] = [];
    const mails: RawMail[] = [];
    const started = Date.now();
    for await (const m of splitMbox(stream(), "t.mbox", { onError: (e) => errors.push(e) }))
      mails.push(m);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(mails.map((m) => m.origin)).toEqual(["t.mbox#1", "t.mbox#3"]);
    expect(errors[0]?.message).toContain("t.mbox#2");
    expect(errors[0]?.reason).toContain("HYPWATCH_MAX_LINE_BYTES");
  });

  it("stops a gzip bomb at the inflate limit, keeping what came before, in seconds", async () => {
    const file = path.join(dir, "t.mbox.gz");
    await writeFile(file, gzipBomb(ordinary("first@x"), 64 * 1024 * 1024));
    const limits = { ...DEFAULT_MAIL_LIMITS, maxDecompressedBytes: 16 * 1024 * 1024 };
    const started = Date.now();
    const { mails, errors } = await readAll(file, limits);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.reason).toContain("HYPWATCH_MAX_DECOMPRESSED_BYTES");
    expect(errors[0]?.origin).toBe("t.mbox.gz#2");
    expect(mails).toHaveLength(1);
  });

  it("reads a real lore thread gzip'd under the default limits", async () => {
    const file = path.join(dir, "scs.mbox.gz");
    const { gzipSync } = await import("node:zlib");
    const thread = await readFile(corpusPath("threads", "scs-v7", "scs-v7-thread.mbox"));
    await writeFile(file, gzipSync(thread));
    const { mails, errors } = await readAll(file);
    expect(errors).toEqual([]);
    expect(mails).toHaveLength(30);
  });

  it("stops reading a source after the message limit, naming the first left unread", async () => {
    const file = path.join(dir, "many.mbox");
    await writeFile(file, mbox(Array.from({ length: 50 }, (_, i) => ordinary(`m${i}@x`))));
    const { mails, errors } = await readAll(file, {
      ...DEFAULT_MAIL_LIMITS,
      maxMessagesPerSource: 20,
    });
    expect(mails).toHaveLength(20);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.origin).toBe("many.mbox#21");
    expect(errors[0]?.reason).toContain("HYPWATCH_MAX_MESSAGES_PER_SOURCE");
  });

  it("refuses an .eml file over the size limit without reading it", async () => {
    const file = path.join(dir, "big.eml");
    await writeFile(file, mail({ id: "big@x", subject: "x", body: "a\n".repeat(100_000) }));
    const { mails, errors } = await readAll(file, {
      ...DEFAULT_MAIL_LIMITS,
      maxMessageBytes: 1000,
    });
    expect(mails).toEqual([]);
    expect(errors[0]?.origin).toBe("big.eml");
    expect(errors[0]?.code).toBe("over-limit");
  });
});
