import { Queue, Worker } from "bullmq";
import { pause } from "../src/intake/live/common.js";
import { configSecrets, type Config } from "../src/config.js";
import { createLogger, registerSecrets, type Logger } from "../src/log.js";
import { emailOf, type BotIdentity } from "../src/mail/index.js";
import type { CheckJobData } from "../src/pipeline/revisions.js";
import { DEFAULT_BOT_ADDRESSES } from "../src/series/index.js";
import type { StateStore } from "../src/state/store.js";
import {
  CHECK_QUEUE,
  checkStopped,
  openStore,
  queueScheduler,
  type CheckJobResult,
} from "./check.js";
import { configuredSources } from "./lists.js";
import { createMetrics, QUEUE_STATES, type Metrics } from "./metrics.js";
import { dashboardRoutes } from "./dashboard.js";
import { startWebServer, type WebServer } from "./web.js";
import { redisConnection } from "./connection.js";
import { isolatedProcessor, siblingModule, type IsolatedQueue } from "./isolated.js";
import { isConnectionError, watchRedis, type RedisHealth } from "./redis-health.js";
import { startDigests, type Digests } from "./digest.js";
import { startReporting, type Reporting } from "./report.js";
import { SCAN_QUEUE } from "./scan.js";
import { listenForStops } from "./stop.js";
import { watchSources, type WatchedSource } from "./watch.js";

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
  /**
   * The sources to watch; default: those of every configured list (`lists` in the config
   * file). Empty: this process only runs jobs.
   */
  sources?: WatchedSource[];
  /** Report verdicts (the outbox dispatcher and a report worker); default: on. */
  report?: boolean;
  /** Serve /healthz and /metrics here (port 0: a free one); default: no web server. */
  web?: { host: string; port: number };
}

export interface Service {
  workers: Worker[];
  log: Logger;
  redis: RedisHealth;
  store: StateStore;
  metrics: Metrics;
  /** The /healthz and /metrics server, once started (null without `web`). */
  web(): WebServer | null;
  /** Resolves when every worker has connected. */
  ready(): Promise<void>;
  /** Kill every running job's process and hand the job back to the queue. */
  handBackRunningJobs(): void;
  /** Stop taking jobs, wait for the running ones (or their hand-back), disconnect. */
  close(): Promise<void>;
}

/** Times a job may be found stalled (its worker gone) and run again before it fails. */
export const MAX_STALLS = 20;

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
      stopped: checkStopped(config),
    },
  ];
}

/**
 * Start this machine's part of the service on the shared Redis: the workers of every queue,
 * and a watcher for each configured source (one process at a time reads a source: the
 * others wait on its lease and take over when it lapses).
 */
export function startService(config: Config, opts: ServeOptions = {}): Service {
  registerSecrets(configSecrets(config));
  const prefix = opts.prefix ?? config.service.queuePrefix;
  // Jobs run in child processes that open the store from the config: give them this prefix.
  const effective: Config = { ...config, service: { ...config.service, queuePrefix: prefix } };
  const log = opts.log ?? createLogger({ level: config.service.logLevel });
  const connection = redisConnection(config.redisUrl);
  const redis = watchRedis(config.redisUrl, log);
  const store = openStore(effective);
  const handBack = new AbortController();
  const metrics = createMetrics({ log });
  const observeResult = (queue: string, result: unknown) => {
    const r = result as Partial<CheckJobResult> | null;
    if (queue !== CHECK_QUEUE || !r?.recorded || !r.kind || r.steps) return;
    metrics.observeVerdict({
      kind: r.kind,
      lastMessageAt: new Date(r.lastArrivedAt ?? 0),
      storedAt: new Date(r.recordedAt ?? Date.now()),
    });
  };
  const stopWatching = new AbortController();
  const workers = (opts.queues ?? serviceQueues(effective, opts)).map((queue) => {
    const worker = new Worker(
      queue.name,
      isolatedProcessor(queue, effective, {
        log,
        handBack: handBack.signal,
        metrics,
        onCompleted: observeResult,
      }),
      {
        connection,
        concurrency: queue.concurrency,
        // The processor runs in a child process, so this event loop is always free to
        // renew locks: BullMQ's 30 s lock holds for a job of any length, and a job whose
        // worker died is back in the queue 30 s later.
        prefix,
        // A job stalls only when the process running it died (or Redis went away): every
        // job is safe to run again, so it goes back to the queue each time rather than
        // failing without a verdict after the second (BullMQ's default of 1).
        maxStalledCount: MAX_STALLS,
      },
    );
    worker.on("error", workerErrorLogger(log.child({ queue: queue.name }), redis));
    return worker;
  });
  const stops = listenForStops({ connection, workers, log });
  const checks = new Queue<CheckJobData>(CHECK_QUEUE, { connection, prefix });
  checks.on("error", workerErrorLogger(log.child({ queue: CHECK_QUEUE }), redis));
  // Depths are read at scrape time, one Queue handle per queue this machine works on.
  const counted = workers.map((w) => {
    const queue = new Queue(w.name, { connection, prefix });
    queue.on("error", (error) => log.debug({ err: error }, "queue connection error"));
    return queue;
  });
  metrics.onCollectQueueDepths(() =>
    Promise.all(
      counted.map(async (q) => ({ queue: q.name, counts: await q.getJobCounts(...QUEUE_STATES) })),
    ),
  );
  let web: WebServer | null = null;
  // Independent of Redis: /healthz must answer (503) while Redis is down.
  const webStarted = opts.web
    ? startWebServer({
        ...opts.web,
        metrics,
        log,
        dashboard: dashboardRoutes({ store, loreUrl: effective.lore.url, queueBoard: true }),
        queues: { connection, prefix },
        health: async () => {
          const redisUp = !redis.isDown();
          const running = workers.every((w) => w.isRunning());
          return { ok: redisUp && running, checks: { redis: redisUp, workers: running } };
        },
      }).then((server) => {
        web = server;
      })
    : Promise.resolve();
  let watching: Promise<void> = Promise.resolve();
  let reporting: Reporting | null = null;
  let digests: Digests | null = null;
  let closing = false;
  const started = (async () => {
    await store.ensureSchema();
    if (!closing && opts.report !== false) {
      reporting = startReporting(effective, { connection, prefix, store, log });
      digests = await startDigests(effective, { connection, prefix, store, log });
    }
    const sources = closing ? [] : (opts.sources ?? (await configuredSources(effective, log)));
    if (closing) return;
    if (sources.length > 0)
      log.info({ sources: sources.map((w) => `${w.list}/${w.source.id}`) }, "watching sources");
    watching = watchSources(
      {
        store,
        scheduler: queueScheduler(checks, store.redis),
        log,
        onIngested: (list, count) => metrics.messagesIngested.inc({ list }, count),
        bot: botIdentity(effective),
      },
      sources,
      stopWatching.signal,
    );
  })();
  // A failure here is the `ready()` caller's; nothing else awaits it.
  started.catch(() => undefined);
  webStarted.catch(() => undefined);
  return {
    workers,
    log,
    redis,
    store,
    metrics,
    web: () => web,
    ready: async () => {
      await Promise.all([
        started,
        webStarted,
        stops.ready,
        ...workers.map((w) => w.waitUntilReady()),
      ]);
    },
    handBackRunningJobs: () => handBack.abort(),
    close: async () => {
      // Watchers not started yet (Redis not answering) never start.
      closing = true;
      stopWatching.abort();
      // With Redis down nothing can be written back and a worker's close would wait for it:
      // kill running jobs (their locks expire in 30 s and another worker's stalled-job check
      // takes them up) and close at once.
      const redisDown = redis.isDown();
      if (redisDown) handBack.abort();
      await Promise.all([
        ...workers.map((w) => w.close(redisDown)),
        watching.catch(() => undefined),
        reporting?.close(redisDown).catch(() => undefined),
        digests && Promise.race([digests.close().catch(() => undefined), pause(2000)]),
      ]);
      await webStarted.catch(() => undefined);
      await web?.close();
      // Closing a queue waits for Redis, and so may dropping a connection that never got in
      // (a wrong password): give each a moment, then go on.
      await Promise.all(
        [checks, ...counted].map((q) =>
          Promise.race([
            (redis.isDown() ? q.disconnect() : q.close()).catch(() => undefined),
            pause(1000),
          ]),
        ),
      );
      await stops.close();
      store.redis.disconnect();
      redis.close();
    },
  };
}

/** Who the bot is, from `mail`: commands must be addressed to it; it never obeys a bot. */
function botIdentity(config: Config): BotIdentity {
  return {
    address: emailOf(config.mail.from).toLowerCase(),
    messageIdDomain: config.mail.messageIdDomain,
    botAddresses: DEFAULT_BOT_ADDRESSES,
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
