import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../src/config.js";
import type { CheckJobData } from "../src/pipeline/revisions.js";
import { captureLog } from "../test/log-capture.js";
import { freshStore, TEST_REDIS_URL, type TestStore } from "../test/state.js";
import { CHECK_QUEUE, checkJobId, queueScheduler } from "./check.js";
import { redisConnection } from "./connection.js";
import { dispatchOutbox, REPORT_QUEUE, type ReportJobData } from "./report.js";
import { FINISHED_JOBS } from "./retention.js";

describe("finished jobs are kept for a while, then removed (real Redis)", () => {
  const connection = redisConnection(TEST_REDIS_URL);
  let t: TestStore;
  let checks: Queue<CheckJobData>;
  let reports: Queue<ReportJobData>;
  beforeAll(async () => {
    t = await freshStore();
    checks = new Queue(CHECK_QUEUE, { connection, prefix: t.prefix });
    reports = new Queue(REPORT_QUEUE, { connection, prefix: t.prefix });
  });
  afterAll(async () => {
    for (const queue of [checks, reports]) {
      await queue.obliterate({ force: true });
      await queue.close();
    }
    await t.drop();
  });

  it("bounds check and report jobs by age and by count, and the job keys carry no TTL", async () => {
    await queueScheduler(checks, t.redis).schedule({ checkKey: "k1", revision: "r1" }, 60_000);
    const check = await checks.getJob(checkJobId("k1"));
    expect(check?.opts).toMatchObject(FINISHED_JOBS);

    await t.store.recordCommand("command:<ask@example.org>", {
      list: "kvmarm",
      lines: ["ok"],
      messageId: "ask@example.org",
      author: { name: "Ada", email: "ada@example.org" },
      subject: "Re: [PATCH 0/3] KVM: arm64: a change",
      references: [],
      command: "#hypwatch help",
    });
    const stop = new AbortController();
    const dispatching = dispatchOutbox(
      { store: t.store, queue: reports, config: configSchema.parse({}), log: captureLog().log },
      stop.signal,
      20,
    );
    const deadline = Date.now() + 5000;
    while ((await reports.count()) === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    await dispatching;
    const [report] = await reports.getJobs(["waiting", "delayed"]);
    expect(report?.opts).toMatchObject(FINISHED_JOBS);

    // Counted and aged out by BullMQ as later jobs finish, never by a TTL of their own.
    expect(FINISHED_JOBS.removeOnComplete.count).toBeGreaterThan(0);
    expect(FINISHED_JOBS.removeOnFail.age).toBeGreaterThanOrEqual(
      FINISHED_JOBS.removeOnComplete.age,
    );
    for (const key of [
      `${checks.qualifiedName}:${check?.id}`,
      `${reports.qualifiedName}:${report?.id}`,
    ])
      expect(await t.redis.pttl(key), key).toBe(-1);
  });
});
