import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { simpleParser } from "mailparser";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { storeVerdict, threadSeries, verdictOf } from "../test/digest-fixtures.js";
import { captureLog } from "../test/log-capture.js";
import { freshStore, TEST_REDIS_URL, type TestStore } from "../test/state.js";
import { configSchema, type Config } from "../src/config.js";
import type { DigestOutcome } from "../src/notify/digest.js";
import { maildirSender, type MailSender } from "../src/notify/mail.js";
import type { Series } from "../src/series/types.js";
import { redisConnection } from "./connection.js";
import {
  digestConfigProblems,
  digestPeriod,
  digestSchedulerId,
  scheduledAt,
  startDigests,
  type Digests,
} from "./digest.js";

const iso = (ms: number) => new Date(ms).toISOString();

describe("the period of a digest run", () => {
  it("runs from the schedule's previous run to this one", () => {
    const at = Date.parse("2024-05-02T06:00:00Z");
    const daily = digestPeriod({ pattern: "0 6 * * *", tz: "UTC" }, at);
    expect([iso(daily.start.getTime()), iso(daily.end.getTime())]).toEqual([
      "2024-05-01T06:00:00.000Z",
      "2024-05-02T06:00:00.000Z",
    ]);
    const weekly = digestPeriod(
      { pattern: "0 6 * * 1", tz: "UTC" },
      Date.parse("2024-05-06T06:00Z"),
    );
    expect(iso(weekly.start.getTime())).toBe("2024-04-29T06:00:00.000Z");
    const twiceDaily = digestPeriod({ pattern: "0 6,18 * * *" }, Date.parse("2024-05-02T06:00Z"));
    expect(iso(twiceDaily.start.getTime())).toBe("2024-05-01T18:00:00.000Z");
    expect(digestPeriod({ every: 1500 }, 10_000).start.getTime()).toBe(8_500);
  });

  it("takes the run's time from the scheduler's job id, so a retry digests the same period", () => {
    const job = {
      id: "repeat:digest:kvmarm:1714629600000",
      data: { digest: "kvmarm" },
      opts: {},
      timestamp: 5,
    };
    expect(scheduledAt(job)).toBe(1714629600000);
    expect(scheduledAt({ ...job, data: { digest: "kvmarm", scheduledAt: 42 } })).toBe(42);
    expect(scheduledAt({ ...job, id: "7", opts: { delay: 10 } })).toBe(15);
  });
});

describe("digest configuration", () => {
  it("names an unknown list, sending without SMTP and a schedule that is not cron", () => {
    const config = configSchema.parse({
      lists: [{ name: "kvmarm", sources: [{ type: "mbox", path: "/dev/null" }] }],
      digests: [
        { name: "a", lists: ["kvmarm", "lkml"], to: ["x@example.com"] },
        { name: "b", to: ["x@example.com"], send: true, schedule: "every day" },
      ],
    });
    expect(digestConfigProblems(config)).toEqual([
      'digests.0.lists.1: no list named "lkml"',
      "digests.1.send: sending needs mail.smtp (off: the outbox Maildir)",
      expect.stringMatching(/^digests\.1\.schedule: "every day" is not a cron pattern/),
    ]);
  });

  it("defaults to a daily dry run at 06:00 UTC", () => {
    const config = configSchema.parse({ digests: [{ name: "kvmarm", to: ["x@example.com"] }] });
    expect(config.digests[0]).toEqual({
      name: "kvmarm",
      lists: [],
      to: ["x@example.com"],
      schedule: "0 6 * * *",
      send: false,
    });
    expect(() =>
      configSchema.parse({
        digests: [
          { name: "kvmarm", to: ["x@example.com"] },
          { name: "kvmarm", to: ["y@example.com"] },
        ],
      }),
    ).toThrow(/taken by digests\.0/);
  });
});

describe("scheduled digests on BullMQ", () => {
  let t: TestStore;
  let outbox: string;
  let series: Series[];
  const running: Digests[] = [];

  beforeAll(async () => {
    series = [await threadSeries("scs-v7"), await threadSeries("el2-nvhe-wxn-v1")];
  });

  beforeEach(async () => {
    t = await freshStore();
    outbox = await mkdtemp(path.join(tmpdir(), "hypwatch-digest-worker-"));
  });

  afterEach(async () => {
    for (const d of running.splice(0)) await d.close();
    await t.drop();
    await rm(outbox, { recursive: true, force: true });
  });

  function serviceConfig(): Config {
    return configSchema.parse({
      mail: { outboxDir: outbox, messageIdDomain: "hypwatch.example" },
      digests: [{ name: "every", to: ["kvmarm@lists.linux.dev"] }],
    });
  }

  async function start(config: Config, senderFor?: () => MailSender): Promise<Digests> {
    const digests = await startDigests(config, {
      connection: redisConnection(TEST_REDIS_URL),
      prefix: t.prefix,
      store: t.store,
      log: captureLog().log,
      // Verdicts here are stamped and written by this process, a moment before each run.
      settleMs: 0,
      ...(senderFor ? { senderFor } : {}),
    });
    running.push(digests);
    return digests;
  }

  async function mailFiles(): Promise<string[]> {
    return readdir(path.join(outbox, "new")).catch(() => []);
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const outcomes = async (digests: Digests) =>
    (await digests.queue.getCompleted()).map((j) => ({
      id: j.id ?? "",
      outcome: j.returnvalue as DigestOutcome,
    }));

  it("mails once per period with verdicts; a job run again after a restart sends nothing", async () => {
    const config = serviceConfig();
    const digests = await start(config);
    expect(await digests.queue.getJobScheduler(digestSchedulerId("every"))).toMatchObject({
      pattern: "0 6 * * *",
      tz: "UTC",
    });
    // The same scheduler, every 1.5 s instead of daily.
    await digests.queue.upsertJobScheduler(
      digestSchedulerId("every"),
      { every: 1500 },
      { name: "digest", data: { digest: "every" }, opts: { attempts: 2 } },
    );
    for (const s of series) {
      const before = (await outcomes(digests)).filter((o) => o.outcome.status === "sent").length;
      await storeVerdict(t.store, s, verdictOf(s, { kind: "clean", recordedAt: Date.now() }));
      await until("a digest sent", async () => {
        const sent = (await outcomes(digests)).filter((o) => o.outcome.status === "sent");
        return sent.length > before ? true : undefined;
      });
    }
    await digests.queue.removeJobScheduler(digestSchedulerId("every"));

    const done = await outcomes(digests);
    const sent = done.filter((o) => o.outcome.status === "sent");
    expect(sent).toHaveLength(2);
    expect(done.every((o) => o.outcome.status === "sent" || o.outcome.status === "empty")).toBe(
      true,
    );
    const files = await mailFiles();
    expect(files).toHaveLength(2);
    const subjects = await Promise.all(
      files.map(
        async (f) => (await simpleParser(await readFile(path.join(outbox, "new", f)))).text,
      ),
    );
    // Each series in exactly one digest.
    for (const s of series)
      expect(subjects.filter((text) => text?.includes(s.subject))).toHaveLength(1);

    // A restart, then the first sent job run again: the ledger has its mail.
    await digests.close();
    running.splice(running.indexOf(digests), 1);
    const restarted = await start(config);
    await restarted.queue.removeJobScheduler(digestSchedulerId("every"));
    const first = sent[0]?.id ?? "";
    const job = await restarted.queue.getJob(first);
    await job?.retry("completed");
    const again = await until("the job run again", async () => {
      const rerun = await restarted.queue.getJob(first);
      return rerun?.finishedOn && rerun.attemptsMade >= 1 && (await rerun.isCompleted())
        ? (rerun.returnvalue as DigestOutcome)
        : undefined;
    });
    expect(again.status).toBe("sent-before");
    expect(await mailFiles()).toHaveLength(2);
  });

  it("a job whose worker died while sending is retried without sending again", async () => {
    const config = serviceConfig();
    const maildir = maildirSender(outbox);
    let sends = 0;
    const dying: MailSender = {
      via: "maildir",
      async send(mail) {
        sends++;
        const delivery = await maildir.send(mail);
        if (sends === 1) throw new Error("worker killed after writing the mail");
        return delivery;
      },
      close() {},
    };
    const digests = await start(config, () => dying);
    await digests.queue.removeJobScheduler(digestSchedulerId("every"));
    const end = Date.now();
    const [s] = series;
    if (!s) throw new Error("no series");
    await storeVerdict(t.store, s, verdictOf(s, { kind: "clean", recordedAt: end - 1000 }));
    const job = await digests.queue.add(
      "digest",
      { digest: "every", scheduledAt: end },
      { attempts: 3, backoff: { type: "fixed", delay: 100 } },
    );
    const outcome = await until("the retried job", async () => {
      const j = await digests.queue.getJob(job.id ?? "");
      return j && (await j.isCompleted())
        ? { made: j.attemptsMade, value: j.returnvalue }
        : undefined;
    });
    expect(outcome.made).toBe(2);
    expect((outcome.value as DigestOutcome).status).toBe("in-doubt");
    expect(sends).toBe(1);
    expect(await mailFiles()).toHaveLength(1);
  });
});
