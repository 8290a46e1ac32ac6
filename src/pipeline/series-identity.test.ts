import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { testPolicy } from "../../test/policy.js";
import { gicv2Mails } from "../../test/report-context.js";
import { cleanCheckRevision } from "../../test/check-result.js";
import { freshStore, type TestStore } from "../../test/state.js";
import type { RawMail } from "../mail/types.js";
import type { Series } from "../series/types.js";
import { ingestMail } from "./ingest.js";
import { updateRevisions, type CheckJobData, type CheckScheduler } from "./revisions.js";
import { storedIdentity, type StoredSeries } from "./series-identity.js";

const series = (overrides: Partial<Series>): Series => ({
  id: "p1@x",
  subject: "KVM: arm64: a change",
  version: 1,
  total: 2,
  author: { name: "Ada", email: "ada@example.org" },
  sender: { name: "Ada", email: "ada@example.org" },
  date: null,
  coverMessageId: null,
  complete: true,
  relevant: true,
  revisions: [],
  newest: true,
  patches: ["p1@x", "p2@x"].map((messageId, i) => ({
    index: i + 1,
    messageId,
    subject: `[PATCH ${i + 1}/2] KVM: arm64: a change`,
    author: { name: "Ada", email: "ada@example.org" },
    files: ["arch/arm64/kvm/hyp/nvhe/switch.c"],
    relevant: true,
    trailers: [],
  })),
  ...overrides,
});

describe("the id a series is stored under", () => {
  const stored = (entries: [string, StoredSeries][]) => new Map(entries);

  it("stays the first patch's when the cover letter arrives after the series was stored", () => {
    const covered = series({ id: "cover@x", coverMessageId: "cover@x" });
    const known = stored([["p1@x", { seriesId: "p1@x", version: 1 }]]);
    expect(storedIdentity(covered, known)).toMatchObject({
      id: "p1@x",
      coverMessageId: "cover@x",
    });
  });

  it("is the series' own id when nothing was stored, or when it was stored so", () => {
    const covered = series({ id: "cover@x", coverMessageId: "cover@x" });
    expect(storedIdentity(covered, stored([]))).toBe(covered);
    const known = stored([["p1@x", { seriesId: "cover@x", version: 1 }]]);
    expect(storedIdentity(covered, known)).toBe(covered);
  });

  it("is not taken from another version, nor from a series none of its patches names", () => {
    const covered = series({ id: "cover@x", coverMessageId: "cover@x" });
    expect(storedIdentity(covered, stored([["p1@x", { seriesId: "p1@x", version: 2 }]])).id).toBe(
      "cover@x",
    );
    expect(
      storedIdentity(covered, stored([["p2@x", { seriesId: "other@x", version: 1 }]])).id,
    ).toBe("cover@x");
  });

  it("names the other revisions by the ids they were stored under", () => {
    const v2 = series({
      id: "v2@x",
      version: 2,
      revisions: [{ id: "v1-cover@x", version: 1 }],
      patches: [],
    });
    const known = stored([["v1-cover@x", { seriesId: "v1-p1@x", version: 1 }]]);
    expect(storedIdentity(v2, known).revisions).toEqual([{ id: "v1-p1@x", version: 1 }]);
  });
});

const isCover = (mail: RawMail) => /^Subject: \[PATCH 0\/3\]/m.test(mail.raw.toString());
const messageIdOf = (mail: RawMail) =>
  /^Message-Id: <(.+)>$/im.exec(mail.raw.toString())?.[1] ?? "";

describe("a cover letter that arrives after its patches (real Redis, real mail)", () => {
  let t: TestStore;
  const queued: CheckJobData[] = [];
  const cancelled: string[] = [];
  const scheduler: CheckScheduler = {
    schedule: async (job) => void queued.push(job),
    cancel: async (key) => void cancelled.push(key),
  };
  const deps = () => ({ store: t.store, scheduler });
  // `t` is a fresh store per test.
  const check = (job: CheckJobData) => cleanCheckRevision(t.store, "/nonexistent")(job);

  beforeEach(async () => {
    t = await freshStore();
    queued.length = 0;
    cancelled.length = 0;
  });
  afterEach(() => t.drop());

  it("leaves one revision, one check and one report: the series keeps the id it was checked under", async () => {
    const mails = await gicv2Mails();
    const cover = mails.find(isCover);
    const patches = mails.filter((m) => !isCover(m));
    expect(cover && patches.length === 3).toBe(true);
    for (const mail of patches) await ingestMail({ store: t.store }, "kvmarm", mail);
    await updateRevisions(deps(), testPolicy());
    expect(queued).toHaveLength(1);
    const [job] = queued;
    const { verdict } = await check(job!);
    const firstPatch = messageIdOf(patches[0]!);
    expect(verdict).toMatchObject({ kind: "clean", seriesId: firstPatch });

    await ingestMail({ store: t.store }, "kvmarm", cover!);
    const update = await updateRevisions(deps(), testPolicy());
    expect(update).toMatchObject({ changed: 0, scheduled: 0, cancelled: 0 });
    expect(queued).toHaveLength(1);
    expect(cancelled).toEqual([]);
    const coverId = messageIdOf(cover!);
    // The cover letter leads to the series as stored: a command mail answering it is understood.
    expect(await t.store.revisionOfMail("kvmarm", coverId)).toEqual({
      seriesId: firstPatch,
      version: 1,
    });
    expect(await t.store.heads("kvmarm", [{ id: coverId, version: 1 }])).toEqual([null]);
    expect(await t.store.runs()).toEqual({ [job!.checkKey]: "1" });
    expect((await t.store.outbox()).map((e) => e.checkKey)).toEqual([job!.checkKey]);
    expect(await t.store.verdictCount()).toBe(1);
  });

  it("keeps the first id while patches and the cover letter trickle in, in any order", async () => {
    const mails = await gicv2Mails();
    const cover = mails.find(isCover)!;
    const [p1, p2, p3] = mails.filter((m) => !isCover(m));
    for (const mail of [p1!, p2!, cover, p3!]) {
      await ingestMail({ store: t.store }, "kvmarm", mail);
      await updateRevisions(deps(), testPolicy());
    }
    // Each partial revision (one patch, two) was queued, then taken back for the next one.
    expect(queued).toHaveLength(3);
    expect(cancelled).toEqual([queued[0]?.checkKey, queued[1]?.checkKey]);
    const revisions = await Promise.all(queued.map((j) => t.store.revision(j.revision)));
    const first = messageIdOf(p1!);
    expect(revisions.map((r) => [r?.series.id, r?.series.complete])).toEqual([
      [first, false],
      [first, false],
      [first, true],
    ]);
    expect(revisions[2]?.series.coverMessageId).toBe(messageIdOf(cover));
    expect(await t.store.supersededBy(queued[1]!.checkKey)).toEqual({
      seriesId: first,
      version: 1,
    });
    expect(await t.store.heads("kvmarm", [{ id: messageIdOf(cover), version: 1 }])).toEqual([null]);
  });
});
