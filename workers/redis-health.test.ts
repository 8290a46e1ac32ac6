import { randomUUID } from "node:crypto";
import { Queue, QueueEvents } from "bullmq";
import { afterAll, describe, expect, it } from "vitest";
import { configSchema } from "../src/config.js";
import { captureLog, type LogLine } from "../test/log-capture.js";
import { startPrivateRedis } from "../test/redis-server.js";
import { redisConnection } from "./connection.js";
import { siblingModule } from "./isolated.js";
import { startService, type ServiceQueue } from "./serve.js";

const echoQueue: ServiceQueue = {
  name: "echo",
  processor: {
    module: siblingModule("fixtures/processors", import.meta.url),
    exportName: "echoAfter",
  },
  timeLimitMs: 10_000,
  concurrency: 1,
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Lines at warn or above (pino: 40 warn, 50 error, 60 fatal). */
const warnings = (lines: LogLine[]) => lines.filter((l) => l.level >= 40);

async function waitForLine(lines: () => LogLine[], msg: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!lines().some((l) => l.msg === msg)) {
    if (Date.now() > deadline) throw new Error(`no "${msg}" in ${JSON.stringify(lines())}`);
    await sleep(25);
  }
}

describe("a Redis outage (private redis-server with a password)", () => {
  const password = `s3cret-${randomUUID().slice(0, 8)}`;
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it("is one line when it starts and one when it ends, with the backoff and no password", async () => {
    const redis = await startPrivateRedis({ password });
    cleanups.push(() => redis.stop());
    const config = configSchema.parse({ redisUrl: redis.url });
    const prefix = `hypwatch-test-${randomUUID()}`;
    const captured = captureLog();
    const service = startService(config, { prefix, log: captured.log, queues: [echoQueue] });
    cleanups.push(() => service.close());
    await service.ready();

    await redis.stop();
    // Every connection of the service retries at 0.5 and 1.5 s in these 2.5 s: BullMQ
    // printed a stack for every try.
    await sleep(2500);
    await redis.start();
    await waitForLine(captured.lines, "redis connection back");

    const lines = captured.lines();
    expect(lines.filter((l) => l.msg === "redis connection lost")).toHaveLength(1);
    expect(lines.filter((l) => l.msg === "redis connection back")).toHaveLength(1);
    expect(warnings(lines).map((l) => l.msg)).toEqual(["redis connection lost"]);
    expect(lines.find((l) => l.msg === "redis connection lost")).toMatchObject({
      backoffMs: 500,
      maxBackoffMs: 10_000,
    });
    expect(captured.raw.join("")).not.toContain(password);

    // And the workers took up work again.
    const connection = redisConnection(redis.url);
    const queue = new Queue("echo", { connection, prefix });
    const events = new QueueEvents("echo", { connection, prefix });
    cleanups.push(async () => {
      await events.close();
      await queue.close();
    });
    await events.waitUntilReady();
    const job = await queue.add("after-outage", { value: "back" });
    expect(await job.waitUntilFinished(events, 20_000)).toBe("back");
  });

  it("with a wrong password is one line naming the refusal, not the password", async () => {
    const redis = await startPrivateRedis({ password });
    cleanups.push(() => redis.stop());
    const wrong = `wr0ng-${randomUUID().slice(0, 8)}`;
    const config = configSchema.parse({ redisUrl: `redis://:${wrong}@127.0.0.1:${redis.port}` });
    const captured = captureLog();
    const service = startService(config, { log: captured.log, queues: [echoQueue] });
    cleanups.push(() => service.close());
    await sleep(3000);
    const lines = captured.lines();
    expect(warnings(lines).map((l) => l.msg)).toEqual(["redis connection lost"]);
    expect(JSON.stringify(lines)).toMatch(/WRONGPASS/);
    expect(captured.raw.join("")).not.toContain(wrong);
  });
});
