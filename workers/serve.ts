import { Worker } from "bullmq";
import { configSecrets, type Config } from "../src/config.js";
import { createLogger, registerSecrets, type Logger } from "../src/log.js";
import { CHECK_QUEUE } from "./check.js";
import { redisConnection } from "./connection.js";
import { isolatedProcessor, siblingModule, type IsolatedQueue } from "./isolated.js";
import { isConnectionError, watchRedis, type RedisHealth } from "./redis-health.js";
import { SCAN_QUEUE } from "./scan.js";

export interface ServiceQueue extends IsolatedQueue {
  concurrency: number;
}

export interface ServeOptions {
  /** Queue key prefix, instead of the configured one; tests use a fresh one each. */
  prefix?: string;
  /** Concurrent checks on this machine (each holds a worktree slot and runs make -j2). */
  checkConcurrency?: number;
  /** The queues and their processors; default: scan and check (`serviceQueues`). */
  queues?: ServiceQueue[];
  log?: Logger;
}

export interface Service {
  workers: Worker[];
  log: Logger;
  redis: RedisHealth;
  /** Resolves when every worker has connected. */
  ready(): Promise<void>;
  /** Kill every running job's process and hand the job back to the queue. */
  handBackRunningJobs(): void;
  /** Stop taking jobs, wait for the running ones (or their hand-back), disconnect. */
  close(): Promise<void>;
}

/** This machine's queues: scan and check, each job in a process of its own, time-limited. */
export function serviceQueues(config: Config, opts: ServeOptions = {}): ServiceQueue[] {
  return [
    {
      name: SCAN_QUEUE,
      processor: { module: siblingModule("scan", import.meta.url), exportName: "scanProcessor" },
      timeLimitMs: config.service.scanTimeLimitSeconds * 1000,
      concurrency: 1,
    },
    {
      name: CHECK_QUEUE,
      processor: { module: siblingModule("check", import.meta.url), exportName: "checkProcessor" },
      timeLimitMs: config.service.checkTimeLimitSeconds * 1000,
      concurrency: opts.checkConcurrency ?? 1,
    },
  ];
}

/** Start this machine's workers on the shared Redis. */
export function startService(config: Config, opts: ServeOptions = {}): Service {
  registerSecrets(configSecrets(config));
  const log = opts.log ?? createLogger({ level: config.service.logLevel });
  const connection = redisConnection(config.redisUrl);
  const redis = watchRedis(config.redisUrl, log);
  const handBack = new AbortController();
  const workers = (opts.queues ?? serviceQueues(config, opts)).map((queue) => {
    const worker = new Worker(
      queue.name,
      isolatedProcessor(queue, config, { log, handBack: handBack.signal }),
      {
        connection,
        concurrency: queue.concurrency,
        // The processor runs in a child process, so this event loop is always free to
        // renew locks: BullMQ's 30 s lock holds for a job of any length, and a job whose
        // worker died is back in the queue 30 s later.
        prefix: opts.prefix ?? config.service.queuePrefix,
      },
    );
    worker.on("error", workerErrorLogger(log.child({ queue: queue.name }), redis));
    return worker;
  });
  return {
    workers,
    log,
    redis,
    ready: async () => {
      await Promise.all(workers.map((w) => w.waitUntilReady()));
    },
    handBackRunningJobs: () => handBack.abort(),
    close: async () => {
      // With Redis down nothing can be written back and a worker's close would wait for it:
      // kill running jobs (their locks expire in 30 s and another worker's stalled-job check
      // takes them up) and close at once.
      const redisDown = redis.isDown();
      if (redisDown) handBack.abort();
      await Promise.all(workers.map((w) => w.close(redisDown)));
      redis.close();
    },
  };
}

/** How long one worker error message is not repeated: BullMQ retries its loop every second. */
const REPEAT_AFTER_MS = 60_000;

/**
 * Worker errors, quietly: connection errors are the Redis watcher's to report (once per
 * outage), and any other message is logged once a minute at most.
 */
function workerErrorLogger(log: Logger, redis: RedisHealth) {
  const lastLogged = new Map<string, number>();
  return (error: Error) => {
    if (redis.isDown() || isConnectionError(error)) {
      log.debug({ err: error }, "worker connection error");
      return;
    }
    const now = Date.now();
    if (now - (lastLogged.get(error.message) ?? -Infinity) < REPEAT_AFTER_MS) return;
    lastLogged.set(error.message, now);
    log.warn({ err: error }, "worker error");
  };
}
