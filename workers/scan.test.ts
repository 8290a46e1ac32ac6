import { randomUUID } from "node:crypto";
import { Queue, QueueEvents } from "bullmq";
import { afterAll, describe, expect, it } from "vitest";
import { configSchema } from "../src/config.js";
import { corpusPath } from "../test/corpus.js";
import { captureLog } from "../test/log-capture.js";
import { redisConnection } from "./connection.js";
import { SCAN_QUEUE, type ScanJob, type ScanJobResult } from "./scan.js";
import { startService } from "./serve.js";

const config = configSchema.parse({});
const connection = redisConnection(config.redisUrl);
const prefix = `hypwatch-test-${randomUUID()}`;

describe("scan worker (real Redis)", () => {
  const service = startService(config, { prefix, log: captureLog().log });
  const queue = new Queue<ScanJob, ScanJobResult>(SCAN_QUEUE, { connection, prefix });
  const events = new QueueEvents(SCAN_QUEUE, { connection, prefix });

  afterAll(async () => {
    await service.close();
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
  });

  it("scans the SCS v7 thread from a queued job", async () => {
    await events.waitUntilReady();
    const job = await queue.add("scan", {
      source: corpusPath("threads", "scs-v7", "scs-v7-thread.mbox"),
    });
    const result = await job.waitUntilFinished(events, 60_000);
    expect(result.summary).toMatchObject({ messages: 30, parseErrors: 0, series: 1, relevant: 1 });
    expect(result.relevantSeries).toEqual(["20200128184934.77625-1-samitolvanen@google.com"]);
  });

  it("fails a job for a source that does not exist, naming it", async () => {
    const job = await queue.add("scan", { source: "/nonexistent/thread.mbox" });
    await expect(job.waitUntilFinished(events, 60_000)).rejects.toThrow(/nonexistent/);
  });
});
