import { randomUUID } from "node:crypto";
import { Queue, QueueEvents } from "bullmq";
import { afterAll, describe, expect, it } from "vitest";
import { configSchema, configSecrets } from "../src/config.js";
import { registerSecrets } from "../src/log.js";
import { captureLog } from "../test/log-capture.js";
import { redisConnection } from "./connection.js";
import { siblingModule } from "./isolated.js";
import { startService, type ServiceQueue } from "./serve.js";

const config = configSchema.parse({});
const connection = redisConnection(config.redisUrl);
const fixtures = siblingModule("fixtures/processors", import.meta.url);

function queueOf(name: string, exportName: string, timeLimitMs: number): ServiceQueue {
  return { name, processor: { module: fixtures, exportName }, timeLimitMs, concurrency: 1 };
}

describe("jobs in their own process (real Redis)", () => {
  const prefix = `hypwatch-test-${randomUUID()}`;
  const captured = captureLog();
  const service = startService(config, {
    prefix,
    log: captured.log,
    queues: [
      queueOf("spin", "spinForever", 1500),
      queueOf("echo", "echoAfter", 10_000),
      queueOf("leak", "throwWithSecret", 10_000),
    ],
  });
  const open = ["spin", "echo", "leak"].map((name) => ({
    queue: new Queue(name, { connection, prefix }),
    events: new QueueEvents(name, { connection, prefix }),
  }));
  const [spin, echo, leak] = open as [(typeof open)[0], (typeof open)[0], (typeof open)[0]];

  afterAll(async () => {
    await service.close();
    for (const { queue, events } of open) {
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it("fails a job stuck in a synchronous loop at its time limit, naming both, while other queues go on", async () => {
    await Promise.all([service.ready(), ...open.map((o) => o.events.waitUntilReady())]);
    const stuck = await spin.queue.add("stuck", {});
    // Runs while the stuck job spins: this process is not the one spinning.
    const ordinary = await echo.queue.add("ordinary", { value: 42, ms: 100 });
    expect(await ordinary.waitUntilFinished(echo.events, 10_000)).toBe(42);

    await expect(stuck.waitUntilFinished(spin.events, 10_000)).rejects.toThrow(
      `job ${stuck.id} on spin ran over its time limit of 1.5 s and was stopped`,
    );
    // The ordinary job was taken while the stuck one spun (however slowly a loaded machine
    // then starts its process).
    const [done, stopped] = await Promise.all([
      echo.queue.getJob(ordinary.id ?? ""),
      spin.queue.getJob(stuck.id ?? ""),
    ]);
    expect(done?.processedOn).toBeLessThan(stopped?.finishedOn ?? 0);
    const timedOut = captured.lines().find((l) => l.msg === "job timed out");
    expect(timedOut).toMatchObject({ queue: "spin", jobId: stuck.id, timeLimitMs: 1500 });
    expect(timedOut?.durationMs).toBeGreaterThanOrEqual(1500);
  });

  it("takes the next job on the same queue after a job was stopped", async () => {
    const next = await echo.queue.add("after", { value: "still here" });
    expect(await next.waitUntilFinished(echo.events, 10_000)).toBe("still here");
    expect(await spin.queue.getFailedCount()).toBe(1);
  });

  it("keeps a configured secret out of the failure reason and the log", async () => {
    const secret = "pa55-" + randomUUID();
    const configured = configSchema.parse({ redisUrl: `redis://:${secret}@127.0.0.1:6379` });
    registerSecrets(configSecrets(configured));
    const job = await leak.queue.add("leak", { secret });
    await expect(job.waitUntilFinished(leak.events, 10_000)).rejects.toThrow(/AUTH default/);
    const stored = await leak.queue.getJob(job.id ?? "");
    expect(stored?.failedReason).toContain("[redacted]");
    // The job's data carries it (the test put it there); what BullMQ recorded does not.
    expect(JSON.stringify([stored?.failedReason, stored?.stacktrace])).not.toContain(secret);
    expect(captured.raw.join("")).not.toContain(secret);
  });
});
