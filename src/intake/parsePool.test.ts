import { readdir } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { corpusPath } from "../../test/corpus.js";
import { readPublicInbox } from "./publicInbox.js";
import { parseMails, type Parsed } from "./parsePool.js";
import { readSource } from "./source.js";
import type { RawMail } from "./types.js";

/** Real mail of every kind the corpus has: list archive, threads, Patchwork's odd and fuzzed mail. */
async function mixedMail(): Promise<RawMail[]> {
  const mails: RawMail[] = [];
  for await (const mail of readPublicInbox(corpusPath("kvmarm-0.git"))) {
    mails.push(mail);
    if (mails.length >= 150) break;
  }
  for await (const mail of readSource(corpusPath("threads", "mime-quirks"))) mails.push(mail);
  for (const dir of ["mail", "fuzz"]) {
    const folder = corpusPath("patchwork", dir);
    for (const name of (await readdir(folder)).sort()) {
      for await (const mail of readSource(`${folder}/${name}`)) mails.push(mail);
    }
  }
  // Nothing at all: the one input parseMail must refuse.
  mails.splice(40, 0, { raw: Buffer.alloc(0), origin: "empty#1" });
  return mails;
}

/** Outcomes as plain data, so errors compare by what they say. */
function plain<T>(outcomes: Parsed<T>[]): unknown[] {
  return outcomes.map((outcome) =>
    outcome.ok
      ? outcome
      : {
          ok: false,
          origin: outcome.origin,
          error: {
            name: outcome.error.name,
            message: outcome.error.message,
            origin: outcome.error.origin,
            messageId: outcome.error.messageId,
            reason: outcome.error.reason,
          },
        },
  );
}

async function collect<T>(outcomes: AsyncIterable<Parsed<T>>): Promise<Parsed<T>[]> {
  const out: Parsed<T>[] = [];
  for await (const outcome of outcomes) out.push(outcome);
  return out;
}

describe("parseMails", () => {
  it("gives the same outcomes in the same order on worker threads as on one", async () => {
    const mails = await mixedMail();
    expect(mails.length).toBeGreaterThan(200);
    for (const output of ["message", "summary"] as const) {
      const serial = await collect(parseMails(mails, { output, threads: 1 }));
      expect(serial.map((o) => o.origin)).toEqual(mails.map((m) => m.origin));
      // Two threads (one worker) for the messages, three (two workers) for summaries.
      const threads = output === "message" ? 2 : 3;
      const parallel = await collect(parseMails(mails, { output, threads, batchSize: 7 }));
      expect(plain(parallel)).toEqual(plain(serial));
      const failed = serial.filter((o) => !o.ok);
      expect(failed.map((o) => o.origin)).toContain("empty#1");
      expect(serial.filter((o) => o.ok).length).toBeGreaterThan(190);
    }
  });

  it("keeps Dates and commits through the thread hop", async () => {
    const mails: RawMail[] = [];
    for await (const mail of readPublicInbox(corpusPath("kvmarm-0.git"))) {
      mails.push(mail);
      if (mails.length >= 10) break;
    }
    const parsed = await collect(
      parseMails(mails, { output: "message", threads: 2, batchSize: 3 }),
    );
    for (const [i, outcome] of parsed.entries()) {
      expect(outcome.commit).toBe(mails[i]?.commit);
      if (!outcome.ok) throw outcome.error;
      expect(outcome.value.date).toBeInstanceOf(Date);
      expect(outcome.value.origin).toBe(mails[i]?.origin);
    }
  });

  it("stops reading the source and the workers when the consumer stops", async () => {
    let read = 0;
    async function* counted(): AsyncGenerator<RawMail> {
      for await (const mail of readPublicInbox(corpusPath("kvmarm-0.git"))) {
        read++;
        yield mail;
      }
    }
    const first: Parsed<unknown>[] = [];
    for await (const outcome of parseMails(counted(), {
      output: "summary",
      threads: 3,
      batchSize: 4,
    })) {
      first.push(outcome);
      if (first.length === 5) break;
    }
    expect(first).toHaveLength(5);
    // At most the batches queued (3 per thread) were read ahead, not the archive.
    expect(read).toBeLessThanOrEqual(3 * 3 * 4 + 4);
  });
});
