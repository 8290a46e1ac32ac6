import { testPolicy } from "../test/policy.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { corpusPath } from "../test/corpus.js";
import { captureLog } from "../test/log-capture.js";
import { oneShotSeries } from "../test/series-helpers.js";
import { freshStore, type TestStore } from "../test/state.js";
import { readSource } from "../src/intake/index.js";
import type { LiveSource } from "../src/intake/live/types.js";
import type { RawMail } from "../src/mail/types.js";
import type { CheckJobData } from "../src/pipeline/revisions.js";
import { watchSource } from "./watch.js";

/** The first `count` messages of the kvmarm archive, in archive order. */
async function archiveStart(count: number): Promise<RawMail[]> {
  const mails: RawMail[] = [];
  for await (const mail of readSource(corpusPath("kvmarm-0.git"))) {
    mails.push(mail);
    if (mails.length === count) break;
  }
  return mails;
}

/** A source holding `mails`, its checkpoint the index after a mail; it has nothing new after. */
function memorySource(mails: RawMail[], onCaughtUp: () => void): LiveSource {
  return {
    id: "memory:test",
    async *read(from) {
      for (let i = from === null ? 0 : Number(from); i < mails.length; i++) {
        const mail = mails[i];
        if (mail) yield { mail, checkpoint: String(i + 1) };
      }
    },
    async waitForNew(signal) {
      onCaughtUp();
      await new Promise<void>((resolve) => signal?.addEventListener("abort", () => resolve()));
    },
    async close() {},
  };
}

describe("watching a source that is catching up", () => {
  let t: TestStore;
  beforeEach(async () => {
    t = await freshStore();
  });
  afterEach(() => t.drop());

  it("acts on every newest revision though it assembles only every few thousand mails", async () => {
    const mails = await archiveStart(8000);
    const expected = (await oneShotSeries(mails)).relevant.map((s) => `${s.id} v${s.version}`);
    const policy = testPolicy({
      check: { candidates: [], configs: ["defconfig"], analyzer: "test" },
    });
    const queued = new Map<string, CheckJobData>();
    const scheduler = {
      schedule: async (job: CheckJobData) => void queued.set(job.checkKey, job),
      cancel: async (checkKey: string) => void queued.delete(checkKey),
    };
    const { log, lines } = captureLog("info");
    const stop = new AbortController();
    const caughtUp = new Promise<void>((resolve) => {
      const source = memorySource(mails, resolve);
      void watchSource(
        { store: t.store, scheduler, log },
        { list: "kvmarm", source, policy },
        stop.signal,
      );
    });
    await caughtUp;
    stop.abort();
    const revisions = await Promise.all(
      [...queued.values()].map((j) => t.store.revision(j.revision)),
    );
    expect(revisions.map((r) => `${r?.series.id} v${r?.series.version}`).sort()).toEqual(
      expected.sort(),
    );
    // 8 batches of 1,000, assembled after the 3rd, the 6th and the last.
    expect(lines().filter((l) => l.msg === "series updated")).toHaveLength(3);
  }, 120_000);
});
