import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Queue, QueueEvents } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sigtermRedisDown } from "../scripts/attack/service.js";
import { configSchema } from "../src/config.js";
import { corpusPath } from "../test/corpus.js";
import { captureLog } from "../test/log-capture.js";
import { startServe } from "../test/serve-process.js";
import { redisConnection } from "./connection.js";
import { SCAN_QUEUE, type ScanJob, type ScanJobResult } from "./scan.js";
import { startService } from "./serve.js";

const config = configSchema.parse({});
const connection = redisConnection(config.redisUrl);
/** Seconds from SIGTERM to exit in these tests; the service's default is 30. */
const DEADLINE_S = 2;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "hypwatch-shutdown-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("hypwatch serve on SIGTERM (real process, real Redis)", () => {
  const prefix = `hypwatch-test-${randomUUID()}`;
  const queue = new Queue<ScanJob, ScanJobResult>(SCAN_QUEUE, { connection, prefix });
  const events = new QueueEvents(SCAN_QUEUE, { connection, prefix });
  afterAll(async () => {
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
  });

  it("hands an interrupted job back within the deadline, and a second worker completes it", async () => {
    // A source that blocks its reader until someone writes: the job runs until SIGTERM.
    const source = path.join(dir, "thread.mbox");
    execFileSync("mkfifo", [source]);
    const serve = startServe({
      HYPWATCH_QUEUE_PREFIX: prefix,
      HYPWATCH_SHUTDOWN_DEADLINE: String(DEADLINE_S),
    });
    await serve.waitFor("workers ready");
    const job = await queue.add("scan", { source });
    await serve.waitFor("job started");

    const signalled = Date.now();
    serve.proc.kill("SIGTERM");
    const { code, afterMs } = await serve.exited(signalled);
    expect(afterMs).toBeLessThan(DEADLINE_S * 1000);
    expect(code).toBe(0);
    expect(serve.lines().map((l) => l.msg)).toEqual(
      expect.arrayContaining(["stopping: no new jobs", "job handed back", "stopped"]),
    );
    expect(await queue.getJobState(job.id ?? "")).toBe("waiting");

    // The mail is there now; a worker elsewhere takes the job from the queue.
    await rm(source);
    await copyFile(corpusPath("threads", "scs-v7", "scs-v7-thread.mbox"), source);
    const second = startService(config, { prefix, log: captureLog().log });
    try {
      const result = await job.waitUntilFinished(events, 30_000);
      expect(result.summary).toMatchObject({ messages: 30, series: 1, relevant: 1 });
    } finally {
      await second.close();
    }
  });

  it("exits within the deadline while Redis is down", async () => {
    // The deadline, plus the time node takes to exit (the attack's own judgement).
    const outcome = await sigtermRedisDown.run();
    expect(outcome.held, outcome.outcome).toBe(true);
  });
});
