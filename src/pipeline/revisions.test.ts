import { testPolicy } from "../../test/policy.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { corpusPath } from "../../test/corpus.js";
import { oneShotSeries } from "../../test/series-helpers.js";
import { freshStore, type TestStore } from "../../test/state.js";
import { readSource } from "../intake/index.js";
import { readPublicInbox } from "../intake/publicInbox.js";
import type { RawMail } from "../mail/types.js";
import { ingestMail } from "./ingest.js";
import { updateRevisions, type CheckJobData, type CheckScheduler } from "./revisions.js";

/** A scheduler that keeps what is queued, and counts every call. */
function recordingScheduler() {
  const queued = new Map<string, { job: CheckJobData; delayMs: number }>();
  const calls = { schedule: 0, cancel: 0 };
  const scheduler: CheckScheduler = {
    schedule: async (job, delayMs) => {
      calls.schedule++;
      if (!queued.has(job.checkKey)) queued.set(job.checkKey, { job, delayMs });
    },
    cancel: async (key) => {
      calls.cancel++;
      queued.delete(key);
    },
  };
  return { scheduler, queued, calls };
}

const policy = testPolicy;

async function collect(source: AsyncIterable<RawMail>, max = Infinity): Promise<RawMail[]> {
  const out: RawMail[] = [];
  for await (const mail of source) {
    out.push(mail);
    if (out.length >= max) break;
  }
  return out;
}

describe("revisions from list mail as it arrives (real Redis, real mail)", () => {
  let t: TestStore;
  beforeEach(async () => {
    t = await freshStore();
  });
  afterEach(() => t.drop());

  it("waits on a series while its patches trickle in, then checks the complete one once", async () => {
    const mails = await collect(readSource(corpusPath("threads", "scs-v7", "scs-v7-thread.mbox")));
    const { scheduler, queued, calls } = recordingScheduler();
    for (const mail of mails) {
      await ingestMail({ store: t.store }, "kvmarm", mail);
      await updateRevisions({ store: t.store, scheduler }, policy());
    }
    // Only the complete v7 is left queued, with no wait; each partial one was taken back.
    expect([...queued.values()].map((q) => q.delayMs)).toEqual([0]);
    expect(calls.schedule - calls.cancel).toBe(1);
    const [only] = [...queued.values()];
    const revision = await t.store.revision(only!.job.revision);
    expect(revision?.series).toMatchObject({ version: 7, total: 11, complete: true });

    // The same mail again, and the same update again: nothing changes.
    const before = { ...calls };
    for (const mail of mails.slice(0, 5)) await ingestMail({ store: t.store }, "kvmarm", mail);
    const again = await updateRevisions({ store: t.store, scheduler }, policy());
    expect(again).toMatchObject({ changed: 0, scheduled: 0, cancelled: 0 });
    expect(calls).toEqual(before);
  });

  it("an update cut off while it queues checks is made up by the next one: no check is lost", async () => {
    const mails = await collect(readPublicInbox(corpusPath("kvmarm-0.git")), 300);
    // What one update that is not cut off queues, in a store of its own.
    const reference = await freshStore();
    const whole = recordingScheduler();
    try {
      for (const mail of mails) await ingestMail({ store: reference.store }, "kvmarm", mail);
      await updateRevisions({ store: reference.store, scheduler: whole.scheduler }, policy());
    } finally {
      await reference.drop();
    }
    expect(whole.queued.size).toBeGreaterThan(1);

    for (const mail of mails) await ingestMail({ store: t.store }, "kvmarm", mail);
    // The queue fails after one check was queued.
    const cut = recordingScheduler();
    let left = 1;
    const failing: CheckScheduler = {
      ...cut.scheduler,
      schedule: async (job, delayMs) => {
        if (left-- <= 0) throw new Error("queue unreachable");
        await cut.scheduler.schedule(job, delayMs);
      },
    };
    await expect(updateRevisions({ store: t.store, scheduler: failing }, policy())).rejects.toThrow(
      "queue unreachable",
    );
    expect(cut.queued.size).toBe(1);
    const next = recordingScheduler();
    await updateRevisions({ store: t.store, scheduler: next.scheduler }, policy());
    expect(new Set([...cut.queued.keys(), ...next.queued.keys()])).toEqual(
      new Set(whole.queued.keys()),
    );
    // Every head is written now: the same update again decides nothing.
    const again = await updateRevisions({ store: t.store, scheduler: next.scheduler }, policy());
    expect(again).toMatchObject({ changed: 0, scheduled: 0, cancelled: 0 });
  });

  it("queues exactly the newest relevant revisions a one-shot scan of the same mail lists", async () => {
    const epoch = corpusPath("kvmarm-0.git");
    const mails = await collect(readPublicInbox(epoch), 2500);
    const { scheduler, queued } = recordingScheduler();
    for (const [i, mail] of mails.entries()) {
      await ingestMail({ store: t.store }, "kvmarm", mail);
      if (i % 100 === 99 || i === mails.length - 1)
        await updateRevisions({ store: t.store, scheduler }, policy({ partialWaitMs: 0 }));
    }
    // The one-shot path: the same mail, parsed and assembled in one go as `scan` does.
    const expected = (await oneShotSeries(mails)).relevant
      .map((s) => `${s.id} v${s.version}`)
      .sort();
    const revisions = await Promise.all(
      [...queued.values()].map((q) => t.store.revision(q.job.revision)),
    );
    const got = revisions.map((r) => `${r?.series.id} v${r?.series.version}`).sort();
    expect(got.length).toBeGreaterThan(50);
    expect(got).toEqual(expected);
  }, 120_000);
});
