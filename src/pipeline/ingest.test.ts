import { readFile, readdir } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusPath } from "../../test/corpus.js";
import { freshStore, type TestStore } from "../../test/state.js";
import type { RawMail } from "../intake/types.js";
import { ingestStream, readAhead, type Arriving } from "./ingest.js";

const THREAD = corpusPath("threads", "el2-nvhe-wxn-v1");

async function threadMails(): Promise<RawMail[]> {
  const names = (await readdir(THREAD)).filter((n) => n.endsWith(".eml")).sort();
  return Promise.all(
    names.map(async (name) => ({ raw: await readFile(`${THREAD}/${name}`), origin: name })),
  );
}

const tick = () => new Promise((r) => setTimeout(r, 10));

describe("readAhead", () => {
  it("hands on every item in order while the source works on ahead of the consumer", async () => {
    const pulled: number[] = [];
    async function* source() {
      for (let i = 0; i < 6; i++) {
        pulled.push(i);
        yield i;
      }
    }
    const seen: number[] = [];
    for await (const item of readAhead(source(), 1)) {
      seen.push(item);
      await tick();
      // While the consumer is busy with an item, the source has made the next one (and no
      // more than `depth` beyond what the consumer was given).
      expect(pulled.length).toBe(Math.min(6, item + 2));
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("gives the source's error after the items before it", async () => {
    async function* source() {
      yield 1;
      yield 2;
      throw new Error("source broke");
    }
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const item of readAhead(source(), 2)) {
          await tick();
          seen.push(item);
        }
      })(),
    ).rejects.toThrow("source broke");
    expect(seen).toEqual([1, 2]);
  });

  it("stops the source when the consumer stops early", async () => {
    let finished = false;
    let made = 0;
    async function* source() {
      try {
        for (;;) yield made++;
      } finally {
        finished = true;
      }
    }
    for await (const item of readAhead(source(), 1)) if (item === 2) break;
    expect(finished).toBe(true);
    expect(made).toBeLessThanOrEqual(5);
  });
});

describe("ingestStream (real Redis)", () => {
  let t: TestStore;
  let mails: RawMail[];
  beforeAll(async () => {
    t = await freshStore();
    mails = await threadMails();
  });
  afterAll(() => t.drop());

  it("stores each batch before handing it on with its last message's checkpoint, read once per batch", async () => {
    let reads = 0;
    async function* arriving(): AsyncGenerator<Arriving> {
      for (const [i, mail] of mails.entries())
        yield {
          mail,
          get checkpoint() {
            reads++;
            return `after-${i}`;
          },
        };
    }
    const batches = [];
    for await (const batch of ingestStream({ store: t.store }, "kvmarm", arriving(), {
      batchSize: 5,
      workers: 0,
    })) {
      // Everything up to the batch's checkpoint is stored by the time the caller has it.
      const last = Number(batch.checkpoint?.slice("after-".length));
      expect(await t.store.messageCount("kvmarm")).toBe(last + 1);
      batches.push(batch);
    }
    expect(batches.map((b) => b.read)).toEqual([5, 5, mails.length - 10]);
    expect(batches.map((b) => b.checkpoint)).toEqual([
      "after-4",
      "after-9",
      `after-${mails.length - 1}`,
    ]);
    expect(batches.reduce((n, b) => n + b.fresh, 0)).toBe(mails.length);
    expect(reads).toBe(batches.length);
  });
});
