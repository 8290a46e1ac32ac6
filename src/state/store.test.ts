import { readFile, readdir } from "node:fs/promises";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusPath } from "../../test/corpus.js";
import { freshStore, TEST_REDIS_URL, type TestStore } from "../../test/state.js";
import { parseOne } from "../intake/parseBatch.js";
import { DEFAULT_MAIL_LIMITS } from "../mail/limits.js";
import { ingestMail } from "../pipeline/ingest.js";
import type { SeriesMail } from "../series/index.js";
import { StateSchemaError, StateStore } from "./store.js";
import type { Verdict } from "./types.js";

const THREAD = corpusPath("threads", "el2-nvhe-wxn-v1");

async function threadMails() {
  const names = (await readdir(THREAD)).filter((n) => n.endsWith(".eml")).sort();
  return Promise.all(
    names.map(async (name) => ({ raw: await readFile(`${THREAD}/${name}`), origin: name })),
  );
}

function verdict(checkKey: string, kind: Verdict["kind"] = "clean"): Verdict {
  return {
    checkKey,
    revision: "r",
    list: "kvmarm",
    seriesId: "s@x",
    subject: "s",
    version: 1,
    partial: false,
    kind,
    reason: null,
    result: null,
    analyzer: "a",
    recordedAt: Date.now(),
    latencyMs: 1,
  };
}

describe("the state store (real Redis)", () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await freshStore();
  });
  afterAll(() => t.drop());

  it("stores a message once, numbers it once per list, and keeps raw mail for patches only", async () => {
    const mails = await threadMails();
    const first = [];
    for (const mail of mails) first.push(await ingestMail({ store: t.store }, "kvmarm", mail));
    expect(first.every((o) => o.ok && o.isNew && o.newInList)).toBe(true);
    expect(first.map((o) => (o.ok ? o.seq : 0))).toEqual(mails.map((_, i) => i + 1));

    // The same mail again, and cross-posted to a second list.
    const again = await ingestMail({ store: t.store }, "kvmarm", mails[0]!);
    expect(again).toMatchObject({ ok: true, seq: 1, isNew: false, newInList: false });
    const cross = await ingestMail({ store: t.store }, "linux-arm-kernel", mails[0]!);
    expect(cross).toMatchObject({ ok: true, seq: 1, isNew: false, newInList: true });
    expect(await t.store.messageCount("kvmarm")).toBe(mails.length);

    const arrived = await t.store.recentArrivals("kvmarm", 5);
    expect(arrived.map((m) => m.seq)).toEqual([9, 10, 11, 12, 13]);
    expect(arrived[0]?.summary.date).toBeInstanceOf(Date);

    // Patches keep their raw mail byte for byte; replies do not.
    for (const [i, outcome] of first.entries()) {
      if (!outcome.ok) continue;
      const summary = (await t.store.recentArrivals("kvmarm", 100)).find(
        (m) => m.summary.messageId === outcome.messageId,
      )?.summary;
      const raw = await t.store.rawMail(outcome.messageId);
      if (summary?.subject.isReply) expect(raw).toBeNull();
      else expect(raw?.equals(mails[i]!.raw)).toBe(true);
    }
  });

  it("reads a list's window alike in the process that stored it and in any other", async () => {
    const own = await freshStore();
    const other = new StateStore(new Redis(TEST_REDIS_URL), own.prefix);
    try {
      const mails = await threadMails();
      for (const mail of mails) await ingestMail({ store: own.store }, "kvmarm", mail);
      // The writer has the summaries it stored in memory; the other reads them from Redis.
      const mine = await own.store.recentArrivals("kvmarm", 100);
      const theirs = await other.recentArrivals("kvmarm", 100);
      expect(mine.map((m) => m.seq)).toEqual(mails.map((_, i) => i + 1));
      expect(mine).toEqual(theirs);
    } finally {
      other.redis.disconnect();
      await own.drop();
    }
  });

  it("reads back the better copy of a message stored twice in one batch", async () => {
    const own = await freshStore();
    try {
      const [mail] = await threadMails();
      const parsed = await parseOne(mail!, "summary", DEFAULT_MAIL_LIMITS);
      if (!parsed.ok) throw new Error("the corpus mail did not parse");
      const summary = parsed.value as SeriesMail;
      const copy = (parseScore: number, text: string) => ({
        messageId: summary.messageId,
        summary: { ...summary, parseScore, subject: { ...summary.subject, raw: text } },
        raw: null,
        arrivedAt: 1,
      });
      const results = await own.store.putMessages("kvmarm", [
        copy(1, "worse copy"),
        copy(summary.parseScore + 10, "better copy"),
      ]);
      expect(results.map((r) => r.isNew)).toEqual([true, false]);
      const [arrived] = await own.store.recentArrivals("kvmarm", 10);
      expect(arrived?.summary.subject.raw).toBe("better copy");
    } finally {
      await own.drop();
    }
  });

  it("writes a verdict and its outbox entry once, whoever races to write it", async () => {
    const clients = [new Redis(TEST_REDIS_URL), new Redis(TEST_REDIS_URL)];
    const stores = clients.map((c) => new StateStore(c, t.prefix));
    const written = await Promise.all(
      Array.from({ length: 20 }, (_, i) => stores[i % 2]!.recordVerdict(verdict("race"))),
    );
    expect(written.filter(Boolean)).toHaveLength(1);
    expect(await t.store.recordVerdict(verdict("quiet", "superseded"))).toBe(true);
    const outbox = await t.store.outbox();
    expect(outbox.map((e) => e.idempotencyKey)).toEqual(["verdict:race"]);
    expect(await t.store.outbox(outbox[0]!.id)).toEqual([]);
    expect((await t.store.latestVerdicts(10)).map((v) => v.checkKey).sort()).toEqual([
      "quiet",
      "race",
    ]);
    for (const c of clients) c.disconnect();
  });

  it("records a side effect once under its idempotency key", async () => {
    expect(await t.store.recordSideEffect("reply:abc", "<id@host>")).toBe(true);
    expect(await t.store.recordSideEffect("reply:abc", "<other@host>")).toBe(false);
    expect(await t.store.sideEffect("reply:abc")).toBe("<id@host>");
  });

  it("gives a lease to one holder until it is released or expires", async () => {
    expect(await t.store.holdLease("lore:kvmarm", "a", 200)).toBe(true);
    expect(await t.store.holdLease("lore:kvmarm", "b", 200)).toBe(false);
    expect(await t.store.holdLease("lore:kvmarm", "a", 200)).toBe(true);
    await t.store.releaseLease("lore:kvmarm", "b");
    expect(await t.store.holdLease("lore:kvmarm", "b", 200)).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    expect(await t.store.holdLease("lore:kvmarm", "b", 200)).toBe(true);
    await t.store.releaseLease("lore:kvmarm", "b");
    expect(await t.store.holdLease("lore:kvmarm", "a", 200)).toBe(true);
  });

  it("refuses state written with another schema version", async () => {
    await t.redis.set(t.store.keys.schema, "99");
    await expect(t.store.ensureSchema()).rejects.toThrow(StateSchemaError);
    await expect(t.store.ensureSchema()).rejects.toThrow(/schema version 99/);
  });
});
