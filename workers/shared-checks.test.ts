import { randomUUID } from "node:crypto";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { configSchema, type Config } from "../src/config.js";
import { readSource } from "../src/intake/index.js";
import { ingestMail } from "../src/pipeline/ingest.js";
import { updateRevisions, type CheckJobData } from "../src/pipeline/revisions.js";
import { StateStore } from "../src/state/store.js";
import { corpusPath } from "../test/corpus.js";
import { captureLog } from "../test/log-capture.js";
import { standInCheckQueue } from "../test/stand-in-check-queue.js";
import { testPolicy } from "../test/policy.js";
import { GICV2_MBOX } from "../test/report-context.js";
import { dropKeys, TEST_REDIS_URL } from "../test/state.js";
import { CHECK_QUEUE, queueScheduler } from "./check.js";
import { redisConnection } from "./connection.js";
import { startService, type Service } from "./serve.js";

const THREADS = [
  GICV2_MBOX,
  corpusPath("threads", "scs-v7", "scs-v7-thread.mbox"),
  corpusPath("threads", "el2-nvhe-wxn-v1", "el2-nvhe-wxn-v1.mbox"),
];

describe("two services on one Redis share the checks (real Redis, a process per check)", () => {
  const prefix = `hypwatch-test-${randomUUID()}`;
  const redis = new Redis(TEST_REDIS_URL);
  const store = new StateStore(redis, `${prefix}:state`);
  const checks = new Queue<CheckJobData>(CHECK_QUEUE, {
    connection: redisConnection(TEST_REDIS_URL),
    prefix,
  });
  const services: { service: Service; log: ReturnType<typeof captureLog> }[] = [];

  afterAll(async () => {
    await Promise.all(services.map(({ service }) => service.close()));
    await checks.close();
    await dropKeys(redis, prefix);
    redis.disconnect();
  });

  it("runs every check once, in one service or the other, and both take some", async () => {
    const base = configSchema.parse({ redisUrl: TEST_REDIS_URL });
    const config: Config = { ...base, service: { ...base.service, queuePrefix: prefix } };
    for (let i = 0; i < 2; i++) {
      const log = captureLog();
      const service = startService(config, {
        prefix,
        log: log.log,
        sources: [],
        report: false,
        queues: [standInCheckQueue(config, "cleanCheckAfterHalfASecond")],
      });
      services.push({ service, log });
    }
    await Promise.all(services.map(({ service }) => service.ready()));

    for (const thread of THREADS)
      for await (const mail of readSource(thread)) await ingestMail({ store }, "kvmarm", mail);
    await updateRevisions({ store, scheduler: queueScheduler(checks, redis) }, testPolicy());
    const queued = await checks.getJobCounts("waiting", "active", "completed");
    const total = (queued.waiting ?? 0) + (queued.active ?? 0) + (queued.completed ?? 0);
    expect(total).toBe(3);

    const deadline = Date.now() + 60_000;
    while ((await store.verdictCount()) < total && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    // A little longer: a check run twice would show now.
    await new Promise((r) => setTimeout(r, 500));

    const verdicts = await store.latestVerdicts(100);
    expect(verdicts.map((v) => v.kind)).toEqual(verdicts.map(() => "clean"));
    expect(verdicts).toHaveLength(total);
    expect(Object.values(await store.runs())).toEqual(verdicts.map(() => "1"));
    const started = services.map(
      ({ log }) =>
        log.lines().filter((l) => l.msg === "job started" && l.queue === CHECK_QUEUE).length,
    );
    expect(started.reduce((a, b) => a + b, 0)).toBe(total);
    expect(
      started.every((n) => n > 0),
      `checks started per service: ${started}`,
    ).toBe(true);
  }, 90_000);
});
