import { randomUUID } from "node:crypto";
import { Queue } from "bullmq";
import { afterEach, describe, expect, it } from "vitest";
import { captureLog } from "../test/log-capture.js";
import { startPrivateRedis } from "../test/redis-server.js";
import { redisConnection } from "./connection.js";
import { JobProcessError } from "./job-error.js";
import { createMetrics, QUEUE_STATES, type Metrics, type QueueDepth } from "./metrics.js";
import { startWebServer } from "./web.js";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = value!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}) {
  return samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A web server for `metrics` on loopback, and a scrape of it. */
async function serve(metrics: Metrics) {
  const server = await startWebServer({
    port: 0,
    metrics,
    health: async () => ({ ok: true, checks: {} }),
    log: captureLog().log,
  });
  cleanups.push(() => server.close());
  return async () => {
    const started = Date.now();
    const res = await fetch(`${server.url}/metrics`);
    const text = await res.text();
    return {
      status: res.status,
      contentType: res.headers.get("content-type"),
      text,
      samples: parseExposition(text),
      ms: Date.now() - started,
    };
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the metrics exposition", () => {
  it("names every instrument with the values observed, and the process metrics", async () => {
    const metrics = createMetrics();
    metrics.observeJob({ queue: "check", outcome: "completed", durationMs: 95_000 });
    metrics.observeJob({
      queue: "check",
      outcome: "failed",
      durationMs: 1_500,
      error: new JobProcessError({ name: "ApplyError", message: "m", kind: "permanent" }),
    });
    metrics.observeJob({ queue: "check", outcome: "timed-out", durationMs: 7_200_000 });
    metrics.observeJob({ queue: "scan", outcome: "died", durationMs: 300 });
    metrics.observeJob({ queue: "check", outcome: "handed-back", durationMs: 10_000 });
    metrics.messagesIngested.inc({ list: "kvmarm" }, 12);
    metrics.observeVerdict({
      kind: "findings",
      lastMessageAt: new Date("2025-01-01T10:00:00Z"),
      storedAt: new Date("2025-01-01T10:20:00Z"),
    });
    metrics.observeVerdict({ kind: "clean", lastMessageAt: new Date(Date.now() + 5_000) });
    const scrape = await serve(metrics);

    const { status, contentType, text, samples } = await scrape();
    expect(status).toBe(200);
    expect(contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
    for (const name of [
      "hypwatch_job_duration_seconds",
      "hypwatch_check_latency_seconds",
      "hypwatch_job_failures_total",
      "hypwatch_messages_ingested_total",
      "hypwatch_verdicts_total",
      "hypwatch_queue_jobs",
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    const duration = "hypwatch_job_duration_seconds";
    expect(valueOf(samples, `${duration}_sum`, { queue: "check", outcome: "completed" })).toBe(95);
    expect(valueOf(samples, `${duration}_bucket`, { outcome: "completed", le: "60" })).toBe(0);
    expect(valueOf(samples, `${duration}_bucket`, { outcome: "completed", le: "120" })).toBe(1);
    // A job at the 2 h limit still falls in a bucket, not only in +Inf.
    expect(valueOf(samples, `${duration}_bucket`, { outcome: "timed-out", le: "7200" })).toBe(1);
    expect(valueOf(samples, `${duration}_count`, { queue: "scan", outcome: "died" })).toBe(1);

    const failures = "hypwatch_job_failures_total";
    expect(valueOf(samples, failures, { queue: "check", kind: "permanent" })).toBe(1);
    expect(valueOf(samples, failures, { queue: "check", kind: "timed-out" })).toBe(1);
    expect(valueOf(samples, failures, { queue: "scan", kind: "died" })).toBe(1);
    // Completed and handed-back jobs are not failures.
    expect(samples.filter((s) => s.name === failures)).toHaveLength(3);

    expect(valueOf(samples, "hypwatch_messages_ingested_total", { list: "kvmarm" })).toBe(12);
    expect(valueOf(samples, "hypwatch_verdicts_total", { kind: "findings" })).toBe(1);
    const latency = "hypwatch_check_latency_seconds";
    expect(valueOf(samples, `${latency}_sum`, { verdict: "findings" })).toBe(1200);
    // A message stamped in the future counts as no latency, not a negative one.
    expect(valueOf(samples, `${latency}_sum`, { verdict: "clean" })).toBe(0);

    expect(valueOf(samples, "hypwatch_process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(valueOf(samples, "hypwatch_nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
    // Without a collector there is nothing to say about Redis or the queues.
    expect(text).not.toContain("hypwatch_redis_up");
    expect(samples.filter((s) => s.name === "hypwatch_queue_jobs")).toEqual([]);
  });

  it("keeps each registry to itself: two services in one process do not mix", async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.messagesIngested.inc({ list: "kvmarm" });
    const samples = parseExposition(await b.registry.metrics());
    expect(valueOf(samples, "hypwatch_messages_ingested_total")).toBeUndefined();
  });
});

describe("queue depths, read at scrape time", () => {
  it("are the collector's counts at each scrape, with redis_up 1", async () => {
    const metrics = createMetrics();
    let depths: QueueDepth[] = [
      { queue: "check", counts: { waiting: 3, active: 1, delayed: 0 } },
      { queue: "scan", counts: { waiting: 0, active: 1, delayed: 1 } },
    ];
    metrics.onCollectQueueDepths(async () => depths);
    const scrape = await serve(metrics);

    let { samples } = await scrape();
    expect(valueOf(samples, "hypwatch_queue_jobs", { queue: "check", state: "waiting" })).toBe(3);
    expect(valueOf(samples, "hypwatch_queue_jobs", { queue: "scan", state: "delayed" })).toBe(1);
    expect(valueOf(samples, "hypwatch_redis_up")).toBe(1);

    depths = [{ queue: "check", counts: { waiting: 5 } }];
    ({ samples } = await scrape());
    expect(samples.filter((s) => s.name === "hypwatch_queue_jobs")).toEqual([
      { name: "hypwatch_queue_jobs", labels: { queue: "check", state: "waiting" }, value: 5 },
    ]);
  });

  it("a collector that throws: the scrape answers, redis_up 0, no counts from before", async () => {
    const metrics = createMetrics();
    let down = false;
    metrics.onCollectQueueDepths(async () => {
      if (down) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
      return [{ queue: "check", counts: { waiting: 3 } }];
    });
    metrics.messagesIngested.inc({ list: "kvmarm" });
    const scrape = await serve(metrics);
    expect(valueOf((await scrape()).samples, "hypwatch_queue_jobs", { queue: "check" })).toBe(3);

    down = true;
    const { status, text, samples } = await scrape();
    expect(status).toBe(200);
    expect(text).toContain("# TYPE hypwatch_queue_jobs gauge");
    expect(samples.filter((s) => s.name === "hypwatch_queue_jobs")).toEqual([]);
    expect(valueOf(samples, "hypwatch_redis_up")).toBe(0);
    expect(valueOf(samples, "hypwatch_messages_ingested_total", { list: "kvmarm" })).toBe(1);

    down = false;
    const back = (await scrape()).samples;
    expect(valueOf(back, "hypwatch_queue_jobs", { queue: "check", state: "waiting" })).toBe(3);
    expect(valueOf(back, "hypwatch_redis_up")).toBe(1);
  });

  it("a collector that never answers: each scrape waits its timeout, one query at a time", async () => {
    const metrics = createMetrics({ collectTimeoutMs: 200 });
    let calls = 0;
    metrics.onCollectQueueDepths(() => {
      calls++;
      return new Promise<never>(() => {});
    });
    const scrape = await serve(metrics);

    for (let i = 0; i < 2; i++) {
      const { status, samples, ms } = await scrape();
      expect(status).toBe(200);
      expect(ms).toBeLessThan(2_000);
      expect(valueOf(samples, "hypwatch_redis_up")).toBe(0);
    }
    expect(calls).toBe(1);
  });

  it("a collector failing for another reason than Redis is logged, without the scrape failing", async () => {
    const captured = captureLog("debug");
    const metrics = createMetrics({ log: captured.log });
    // Thrown before any promise: a collector need not be an async function.
    metrics.onCollectQueueDepths(() => {
      throw new TypeError("counts is not iterable");
    });
    const scrape = await serve(metrics);
    const { status, samples } = await scrape();
    expect(status).toBe(200);
    expect(valueOf(samples, "hypwatch_redis_up")).toBe(0);
    expect(captured.lines()).toMatchObject([
      { level: 40, msg: "queue depths not collected", err: { name: "TypeError" } },
    ]);
  });

  it("from a real BullMQ queue: counts while Redis is up, redis_up 0 while it is down", async () => {
    const redis = await startPrivateRedis();
    cleanups.push(() => redis.stop());
    const prefix = `hypwatch-test-${randomUUID()}`;
    const queue = new Queue("check", { connection: redisConnection(redis.url), prefix });
    // The Redis watcher reports the outage; the queue's own connection errors are expected.
    queue.on("error", () => {});
    // close() waits for Redis, which a failed expectation may have left stopped.
    cleanups.push(() => queue.disconnect());
    await queue.addBulk([
      { name: "check", data: {} },
      { name: "check", data: {} },
      { name: "check", data: {}, opts: { delay: 60_000 } },
    ]);
    const metrics = createMetrics({ collectTimeoutMs: 500 });
    metrics.onCollectQueueDepths(async () => [
      { queue: queue.name, counts: await queue.getJobCounts(...QUEUE_STATES) },
    ]);
    const scrape = await serve(metrics);

    const up = (await scrape()).samples;
    expect(valueOf(up, "hypwatch_queue_jobs", { queue: "check", state: "waiting" })).toBe(2);
    expect(valueOf(up, "hypwatch_queue_jobs", { queue: "check", state: "delayed" })).toBe(1);
    expect(valueOf(up, "hypwatch_queue_jobs", { state: "waiting-children" })).toBe(0);
    expect(valueOf(up, "hypwatch_redis_up")).toBe(1);

    await redis.stop();
    const down = await scrape();
    expect(down.status).toBe(200);
    expect(down.ms).toBeLessThan(3_000);
    expect(down.samples.filter((s) => s.name === "hypwatch_queue_jobs")).toEqual([]);
    expect(valueOf(down.samples, "hypwatch_redis_up")).toBe(0);

    // A Redis without persistence comes back empty; the counts say so once it answers.
    await redis.start();
    const deadline = Date.now() + 20_000;
    let back = (await scrape()).samples;
    while (valueOf(back, "hypwatch_redis_up") !== 1 && Date.now() < deadline) {
      await sleep(250);
      back = (await scrape()).samples;
    }
    expect(valueOf(back, "hypwatch_redis_up")).toBe(1);
    expect(valueOf(back, "hypwatch_queue_jobs", { queue: "check", state: "waiting" })).toBe(0);
  });
});
