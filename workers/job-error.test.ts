import { randomUUID } from "node:crypto";
import { Queue, QueueEvents } from "bullmq";
import { afterAll, describe, expect, it } from "vitest";
import { configSchema } from "../src/config.js";
import type { ErrorKind } from "../src/errors.js";
import { captureLog } from "../test/log-capture.js";
import { redisConnection } from "./connection.js";
import { siblingModule } from "./isolated.js";
import { startService } from "./serve.js";

const config = configSchema.parse({});
const connection = redisConnection(config.redisUrl);

describe("failed jobs by error kind, across the job's process (real Redis)", () => {
  const prefix = `hypwatch-test-${randomUUID()}`;
  const captured = captureLog();
  const processor = {
    module: siblingModule("fixtures/processors", import.meta.url),
    exportName: "throwOfKind",
  };
  const service = startService(config, {
    prefix,
    log: captured.log,
    queues: [{ name: "kinds", processor, timeLimitMs: 10_000, concurrency: 1 }],
  });
  const queue = new Queue<{ kind: ErrorKind }>("kinds", { connection, prefix });
  const events = new QueueEvents("kinds", { connection, prefix });

  afterAll(async () => {
    await service.close();
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
  });

  /** Run a job that throws an error of `kind` with two attempts; its attempts and log lines. */
  async function failWith(kind: ErrorKind) {
    await Promise.all([service.ready(), events.waitUntilReady()]);
    const job = await queue.add(kind, { kind }, { attempts: 2 });
    await expect(job.waitUntilFinished(events, 20_000)).rejects.toThrow();
    const stored = await queue.getJob(job.id ?? "");
    const logged = captured.lines().filter((l) => l.msg === "job failed" && l.jobId === job.id);
    return { stored, logged };
  }

  it("fails a job whose error is permanent at once, without its second attempt", async () => {
    const { stored, logged } = await failWith("permanent");
    expect(stored?.attemptsMade).toBe(1);
    expect(stored?.failedReason).toBe("/nonexistent/thread.mbox: cannot open: ENOENT");
    expect(await stored?.getState()).toBe("failed");
    expect(logged.map((l) => l.err)).toEqual([
      {
        kind: "permanent",
        name: "SourceError",
        message: "/nonexistent/thread.mbox: cannot open: ENOENT",
      },
    ]);
  });

  it.each(["transient", "upstream"] as const)(
    "retries a job whose error is %s, up to its attempts",
    async (kind) => {
      const { stored, logged } = await failWith(kind);
      expect(stored?.attemptsMade).toBe(2);
      expect(await stored?.getState()).toBe("failed");
      expect(logged).toHaveLength(2);
      expect(logged.map((l) => (l.err as { kind: string }).kind)).toEqual([kind, kind]);
    },
  );

  it("names the error's class and kind in the log line of a job that failed", () => {
    const names = captured
      .lines()
      .filter((l) => l.msg === "job failed")
      .map((l) => (l.err as { name: string }).name);
    expect(new Set(names)).toEqual(new Set(["SourceError", "LockTimeoutError", "TreeError"]));
  });
});
