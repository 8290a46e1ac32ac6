import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { errorKind, type ErrorKind } from "../src/errors.js";
import type { Logger } from "../src/log.js";
import { isConnectionError } from "./redis-health.js";

/** How a job left its worker (`settle` in isolated.ts). */
export type JobOutcome = "completed" | "failed" | "timed-out" | "died" | "handed-back" | "stopped";

/** Why a job failed: its error's kind, or how its process was stopped. */
export type JobFailureKind = ErrorKind | "timed-out" | "died";

/** The job states counted for `hypwatch_queue_jobs`: pass them to BullMQ's `getJobCounts`. */
export const QUEUE_STATES = [
  "waiting",
  "active",
  "delayed",
  "failed",
  "completed",
  "prioritized",
  "waiting-children",
] as const;

/** One queue's job counts by state, as BullMQ's `Queue.getJobCounts()` returns them. */
export interface QueueDepth {
  queue: string;
  counts: Record<string, number>;
}

export type QueueDepthCollector = () => Promise<QueueDepth[]>;

export interface MetricsOptions {
  /**
   * How long a scrape waits for the queue depths. BullMQ's connections wait for Redis without
   * limit (`maxRetriesPerRequest: null`), so with Redis down the query would never answer.
   */
  collectTimeoutMs?: number;
  /** Where a collector that fails for another reason than Redis being away is reported. */
  log?: Logger;
}

export type Metrics = ReturnType<typeof createMetrics>;

const DEFAULT_COLLECT_TIMEOUT_MS = 2_000;

const REDIS_UP = "hypwatch_redis_up";

/** From a 0.1 s scan to the 2 h limit, densest where checks fall (10 s to 30 min). */
const JOB_DURATION_BUCKETS = [
  0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 180, 300, 450, 600, 900, 1200, 1800, 2700, 3600, 7200,
];

/** Queue wait included: from a minute to a day behind the list. */
const CHECK_LATENCY_BUCKETS = [
  30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 7200, 14400, 28800, 86400,
];

class CollectTimeoutError extends Error {
  constructor(ms: number) {
    super(`queue depths not collected in ${ms} ms`);
    this.name = "CollectTimeoutError";
  }
}

function withinMs<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CollectTimeoutError(ms)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/**
 * The service's instruments in a registry of their own (not prom-client's global one), with
 * Node's process metrics under `hypwatch_`. Queue depths are read at scrape time from the
 * collector given to `onCollectQueueDepths`.
 */
export function createMetrics(opts: MetricsOptions = {}) {
  const collectTimeoutMs = opts.collectTimeoutMs ?? DEFAULT_COLLECT_TIMEOUT_MS;
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: "hypwatch_" });

  const jobDuration = new Histogram<"queue" | "outcome">({
    name: "hypwatch_job_duration_seconds",
    help: "Time a job ran in its worker, by queue and outcome.",
    labelNames: ["queue", "outcome"],
    buckets: JOB_DURATION_BUCKETS,
    registers,
  });
  const checkLatency = new Histogram<"verdict">({
    name: "hypwatch_check_latency_seconds",
    help: "Time from a series' last message arriving to its stored verdict, by verdict.",
    labelNames: ["verdict"],
    buckets: CHECK_LATENCY_BUCKETS,
    registers,
  });
  const jobFailures = new Counter<"queue" | "kind">({
    name: "hypwatch_job_failures_total",
    help: "Jobs that failed, by queue and kind (permanent, transient, upstream, timed-out, died).",
    labelNames: ["queue", "kind"],
    registers,
  });
  const messagesIngested = new Counter<"list">({
    name: "hypwatch_messages_ingested_total",
    help: "Messages taken in, by list.",
    labelNames: ["list"],
    registers,
  });
  const verdicts = new Counter<"kind">({
    name: "hypwatch_verdicts_total",
    help: "Verdicts stored, by kind.",
    labelNames: ["kind"],
    registers,
  });

  let collector: QueueDepthCollector | undefined;
  // One query at a time: one that outlives its scrape (Redis away) is shared by the next
  // scrapes instead of piling up behind it.
  let query: Promise<QueueDepth[]> | undefined;
  // One refresh per scrape, shared by the two gauges it sets.
  let refreshing: Promise<void> | undefined;

  const queueDepth = new Gauge<"queue" | "state">({
    name: "hypwatch_queue_jobs",
    help: "Jobs in each queue by state, read from Redis at scrape time.",
    labelNames: ["queue", "state"],
    registers,
    collect: () => refresh(),
  });
  // Registered with the collector: without one there is nothing to say about Redis.
  const redisUp = new Gauge({
    name: REDIS_UP,
    help: "1 if the queue depths were read from Redis at this scrape, 0 if not.",
    registers: [],
    collect: () => refresh(),
  });

  function refresh(): Promise<void> {
    refreshing ??= readQueueDepths().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  }

  async function readQueueDepths(): Promise<void> {
    if (!collector) return;
    const collect = collector;
    try {
      query ??= collect().finally(() => {
        query = undefined;
      });
      const depths = await withinMs(collectTimeoutMs, query);
      queueDepth.reset();
      for (const { queue, counts } of depths) {
        for (const [state, count] of Object.entries(counts)) {
          queueDepth.set({ queue, state }, count);
        }
      }
      redisUp.set(1);
    } catch (error) {
      // Counts from an earlier scrape would read as current.
      queueDepth.reset();
      redisUp.set(0);
      // Redis being away is the Redis watcher's to report; anything else is a fault here.
      if (!(error instanceof CollectTimeoutError) && !isConnectionError(error)) {
        opts.log?.warn({ err: error }, "queue depths not collected");
      }
    }
  }

  return {
    registry,
    jobDuration,
    checkLatency,
    jobFailures,
    messagesIngested,
    verdicts,
    queueDepth,
    redisUp,

    /** Read the queue depths with `collect` at every scrape (replaces an earlier collector). */
    onCollectQueueDepths(collect: QueueDepthCollector): void {
      collector = collect;
      if (!registry.getSingleMetric(REDIS_UP)) registry.registerMetric(redisUp);
    },

    /**
     * A settled job: its duration by outcome, and for a failure its kind (`error`'s kind for
     * `failed`, the outcome itself for `timed-out` and `died`).
     */
    observeJob(job: {
      queue: string;
      outcome: JobOutcome;
      durationMs: number;
      error?: unknown;
    }): void {
      jobDuration.observe({ queue: job.queue, outcome: job.outcome }, job.durationMs / 1000);
      const kind = failureKind(job.outcome, job.error);
      if (kind) jobFailures.inc({ queue: job.queue, kind });
    },

    /** A stored verdict: counted by kind, and its latency behind the series' last message. */
    observeVerdict(verdict: { kind: string; lastMessageAt: Date; storedAt?: Date }): void {
      verdicts.inc({ kind: verdict.kind });
      const storedAt = verdict.storedAt ?? new Date();
      // Another machine's clock can put the message a little in the future.
      const seconds = Math.max(0, (storedAt.getTime() - verdict.lastMessageAt.getTime()) / 1000);
      checkLatency.observe({ verdict: verdict.kind }, seconds);
    },
  };
}

function failureKind(outcome: JobOutcome, error: unknown): JobFailureKind | null {
  switch (outcome) {
    case "failed":
      return errorKind(error);
    case "timed-out":
    case "died":
      return outcome;
    case "completed":
    case "handed-back":
    case "stopped":
      return null;
  }
}
