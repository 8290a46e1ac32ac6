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
import { testPolicy } from "../test/policy.js";
import { GICV2_MBOX } from "../test/report-context.js";
import { standInCheckQueue } from "../test/stand-in-check-queue.js";
import { dropKeys, TEST_REDIS_URL } from "../test/state.js";
import { CHECK_QUEUE, checkJobId, queueScheduler, stepsJobId } from "./check.js";
import { redisConnection } from "./connection.js";
import { renderStatus } from "../src/report/status.js";
import { startService, type Service } from "./serve.js";
import { readStatus } from "./status.js";

describe("every step of a series built after its verdict (real Redis, a process per job)", () => {
  const prefix = `hypwatch-test-${randomUUID()}`;
  const redis = new Redis(TEST_REDIS_URL);
  const store = new StateStore(redis, `${prefix}:state`);
  const checks = new Queue<CheckJobData>(CHECK_QUEUE, {
    connection: redisConnection(TEST_REDIS_URL),
    prefix,
  });
  let service: Service | null = null;

  afterAll(async () => {
    await service?.close();
    await checks.close();
    await dropKeys(redis, prefix);
    redis.disconnect();
  });

  it("queues the steps behind the checks still waiting, builds them once, and reports what they add", async () => {
    const base = configSchema.parse({ redisUrl: TEST_REDIS_URL });
    const config: Config = { ...base, service: { ...base.service, queuePrefix: prefix } };
    const log = captureLog();
    service = startService(config, {
      prefix,
      log: log.log,
      sources: [],
      report: false,
      queues: [standInCheckQueue(config, "transientInStepsAfterHalfASecond")],
    });
    await service.ready();

    // The GICv2 example (3 patches) and the nVHE WXN series (5 patches) queued together.
    for (const thread of [
      GICV2_MBOX,
      corpusPath("threads", "el2-nvhe-wxn-v1", "el2-nvhe-wxn-v1.mbox"),
    ])
      for await (const mail of readSource(thread)) await ingestMail({ store }, "kvmarm", mail);
    await updateRevisions({ store, scheduler: queueScheduler(checks, redis) }, testPolicy());
    const withSteps = async () => {
      const keys = (await store.latestVerdicts(10)).map((v) => v.checkKey);
      const steps = await Promise.all(keys.map((k) => store.steps(k)));
      return steps.filter(Boolean).length;
    };
    const deadline = Date.now() + 150_000;
    while ((await withSteps()) < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    // A little longer: a job run twice would show now.
    await new Promise((r) => setTimeout(r, 1000));

    const verdicts = await store.latestVerdicts(10);
    expect(verdicts.map((v) => v.kind)).toEqual(["clean", "clean"]);
    const [first, second] = [...verdicts].reverse();
    for (const v of verdicts) {
      const steps = await store.steps(v.checkKey);
      expect(steps?.kind).toBe("findings");
      expect(steps?.result?.causes?.map((c) => [c.introducedBy, c.fixedBy])).toEqual([[1, 2]]);
    }
    expect((await store.outbox()).map((e) => e.idempotencyKey).sort()).toEqual(
      verdicts.flatMap((v) => [`verdict:${v.checkKey}`, `steps:${v.checkKey}`]).sort(),
    );

    // Four jobs, each run once; the steps waited for every check queued with them.
    const started = log
      .lines()
      .filter((l) => l.msg === "job started" && l.queue === CHECK_QUEUE)
      .map((l) => String(l.jobId));
    expect(started).toEqual([
      checkJobId(first!.checkKey),
      checkJobId(second!.checkKey),
      stepsJobId(first!.checkKey),
      stepsJobId(second!.checkKey),
    ]);
    expect(Object.values(await store.runs())).toEqual(["1", "1"]);

    // `hypwatch status` says what the steps added under each verdict.
    const status = renderStatus(await readStatus(config, store));
    expect(status.match(/every step built .*: 1 cause a later patch removes/g)).toHaveLength(2);
  }, 200_000);
});
