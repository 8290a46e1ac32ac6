/**
 * Attacks on the service: a job that never ends, SIGTERM in the middle of a job or while
 * Redis is down, and secrets (a Redis password, a token in the tree URL) looking for a way
 * into logs, errors and job failure reasons. Against the real Redis on 6379 (fresh queue
 * prefixes) and private redis-servers of their own for outages, through a real
 * `hypwatch serve` process where signals are involved.
 */
import { execFile, execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Queue, QueueEvents, type Job } from "bullmq";
import { configSchema, type Config } from "../../src/config.js";
import { corpusPath } from "../../test/corpus.js";
import { captureLog } from "../../test/log-capture.js";
import { startPrivateRedis } from "../../test/redis-server.js";
import { startServe } from "../../test/serve-process.js";
import { analyzerFingerprint } from "../../src/check/fingerprint.js";
import { readSource } from "../../src/intake/index.js";
import { ingestMail } from "../../src/pipeline/ingest.js";
import { updateRevisions } from "../../src/pipeline/revisions.js";
import type { StateStore } from "../../src/state/store.js";
import { CHECK_QUEUE, checkJobId, queueScheduler } from "../../workers/check.js";
import { revisionPolicy } from "../../workers/lists.js";
import { redisConnection } from "../../workers/connection.js";
import { siblingModule } from "../../workers/isolated.js";
import { SCAN_QUEUE } from "../../workers/scan.js";
import { serviceQueues, startService, type ServiceQueue } from "../../workers/serve.js";
import type { AttackCase, AttackOutcome } from "./types.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const SCS_THREAD = corpusPath("threads", "scs-v7", "scs-v7-thread.mbox");
/** Seconds from SIGTERM to exit for the serve processes here (the default is 30). */
const DEADLINE_S = 2;

async function inTempDir(run: (dir: string) => Promise<AttackOutcome>): Promise<AttackOutcome> {
  const dir = await mkdtemp(path.join(tmpdir(), "hypwatch-attack-service-"));
  try {
    return await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A queue and its events on a Redis, closed (and emptied) by `close`. */
function producer(name: string, url: string, prefix: string) {
  const connection = redisConnection(url);
  const queue = new Queue(name, { connection, prefix });
  const events = new QueueEvents(name, { connection, prefix });
  // This producer sees the outages the attacks make; the service's own lines are the subject.
  queue.on("error", () => undefined);
  events.on("error", () => undefined);
  return {
    queue,
    events,
    finished: (job: Job, ms: number) =>
      job.waitUntilFinished(events, ms).then(
        (value: unknown) => ({ ok: true as const, value }),
        (error: Error) => ({ ok: false as const, reason: error.message }),
      ),
    close: async () => {
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
    },
  };
}

/** Store a thread as list mail and queue the check of its newest revision, as the service does. */
async function queueThreadCheck(store: StateStore, queue: Queue, thread: string): Promise<Job> {
  await store.ensureSchema();
  for await (const mail of readSource(thread)) await ingestMail({ store }, "kvmarm", mail);
  const keys: string[] = [];
  const scheduler = queueScheduler(queue, store.redis);
  const policy = revisionPolicy(
    configSchema.parse({}),
    { name: "kvmarm", sources: [{ type: "mbox", path: thread }] },
    await analyzerFingerprint(),
  );
  await updateRevisions(
    {
      store,
      scheduler: {
        ...scheduler,
        schedule: (job, ms) => (keys.push(job.checkKey), scheduler.schedule(job, ms)),
      },
    },
    policy,
  );
  const job = await queue.getJob(checkJobId(keys.at(-1) ?? ""));
  if (!job) throw new Error(`no check queued for ${thread}`);
  return job;
}

/** A source that blocks whoever opens it until someone writes: a read that never ends. */
function fifo(dir: string): string {
  const file = path.join(dir, "never.mbox");
  execFileSync("mkfifo", [file]);
  return file;
}

const neverEnds: AttackCase = {
  name: "a job that never ends (a synchronous loop; a read that blocks)",
  kind: "service",
  run: () =>
    inTempDir(async (dir) => {
      // A scan of the SCS thread takes 1 to 3 s in its own process on a busy machine.
      const config: Config = configSchema.parse({ service: { scanTimeLimitSeconds: 8 } });
      const prefix = `hypwatch-attack-${randomUUID()}`;
      const spinQueue: ServiceQueue = {
        name: "spin",
        processor: {
          module: siblingModule(
            "fixtures/processors",
            new URL("../../workers/serve.ts", import.meta.url).href,
          ),
          exportName: "spinForever",
        },
        timeLimitMs: 2000,
        concurrency: 1,
      };
      const scanQueue = serviceQueues(config).filter((q) => q.name === SCAN_QUEUE);
      const service = startService(config, {
        prefix,
        log: captureLog().log,
        queues: [...scanQueue, spinQueue],
      });
      const spin = producer("spin", config.redisUrl, prefix);
      const scan = producer(SCAN_QUEUE, config.redisUrl, prefix);
      try {
        await Promise.all([
          service.ready(),
          spin.events.waitUntilReady(),
          scan.events.waitUntilReady(),
        ]);
        const spinning = await spin.queue.add("spin", {});
        const blocked = await scan.queue.add("scan", { source: fifo(dir) });
        const ordinary = await scan.queue.add("scan", { source: SCS_THREAD });
        const [a, b, c] = await Promise.all([
          spin.finished(spinning, 20_000),
          scan.finished(blocked, 20_000),
          scan.finished(ordinary, 30_000),
        ]);
        const named = (r: typeof a, id: string | undefined, queue: string, s: number) =>
          !r.ok &&
          r.reason === `job ${id} on ${queue} ran over its time limit of ${s} s and was stopped`;
        const messages = c.ok ? (c.value as { summary: { messages: number } }).summary.messages : 0;
        const held =
          named(a, spinning.id, "spin", 2) &&
          named(b, blocked.id, SCAN_QUEUE, 8) &&
          messages === 30;
        return {
          held,
          outcome: `spin: ${a.ok ? "completed?!" : a.reason}; blocked scan: ${b.ok ? "completed?!" : b.reason}; next scan: ${c.ok ? `${messages} messages` : c.reason}`,
        };
      } finally {
        await service.close();
        await spin.close();
        await scan.close();
      }
    }),
};

const sigtermMidJob: AttackCase = {
  name: "SIGTERM to hypwatch serve in the middle of a job",
  kind: "service",
  run: () =>
    inTempDir(async (dir) => {
      const config = configSchema.parse({});
      const prefix = `hypwatch-attack-${randomUUID()}`;
      const source = fifo(dir);
      const scan = producer(SCAN_QUEUE, config.redisUrl, prefix);
      const serve = startServe({
        HYPWATCH_QUEUE_PREFIX: prefix,
        HYPWATCH_SHUTDOWN_DEADLINE: String(DEADLINE_S),
      });
      try {
        await serve.waitFor("workers ready");
        const job = await scan.queue.add("scan", { source });
        await serve.waitFor("job started");
        const signalled = Date.now();
        serve.proc.kill("SIGTERM");
        const { code, afterMs } = await serve.exited(signalled);
        const state = await scan.queue.getJobState(job.id ?? "");
        // The mail arrives; a second worker takes the job the first one handed back.
        await rm(source);
        await copyFile(SCS_THREAD, source);
        const second = startService(config, { prefix, log: captureLog().log });
        const done = await scan.finished(job, 30_000);
        await second.close();
        const held = afterMs < DEADLINE_S * 1000 && state === "waiting" && done.ok;
        return {
          held,
          outcome: `exit ${code} ${afterMs} ms after SIGTERM (deadline ${DEADLINE_S} s); job ${state} after exit; second worker: ${done.ok ? "completed" : done.reason}`,
        };
      } finally {
        serve.proc.kill("SIGKILL");
        await scan.close();
      }
    }),
};

export const sigtermRedisDown: AttackCase = {
  name: "SIGTERM to hypwatch serve while Redis is down",
  kind: "service",
  run: async () => {
    const redis = await startPrivateRedis();
    const serve = startServe({
      HYPWATCH_REDIS_URL: redis.url,
      HYPWATCH_SHUTDOWN_DEADLINE: String(DEADLINE_S),
    });
    try {
      await serve.waitFor("workers ready");
      await redis.stop();
      await serve.waitFor("redis connection lost");
      const signalled = Date.now();
      serve.proc.kill("SIGTERM");
      const { code, afterMs } = await serve.exited(signalled);
      return {
        held: afterMs < DEADLINE_S * 1000 + 500,
        outcome: `exit ${code} ${afterMs} ms after SIGTERM with Redis down (deadline ${DEADLINE_S} s)`,
      };
    } finally {
      serve.proc.kill("SIGKILL");
      await redis.stop();
    }
  },
};

const passwordAcrossOutage: AttackCase = {
  name: "Redis password in output across an outage, a wrong password and a failed job",
  kind: "service",
  run: async () => {
    const password = `s3cret-${randomUUID().slice(0, 8)}`;
    const redis = await startPrivateRedis({ password });
    const prefix = `hypwatch-attack-${randomUUID()}`;
    const serve = startServe({ HYPWATCH_REDIS_URL: redis.url, HYPWATCH_QUEUE_PREFIX: prefix });
    const wrong = startServe({
      HYPWATCH_REDIS_URL: `redis://:wr0ng-${password}@127.0.0.1:${redis.port}`,
    });
    const scan = producer(SCAN_QUEUE, redis.url, prefix);
    try {
      await serve.waitFor("workers ready");
      await redis.stop();
      await new Promise((r) => setTimeout(r, 2500));
      await redis.start();
      await serve.waitFor("redis connection back");
      const job = await scan.queue.add("scan", { source: `/nonexistent/${password}.mbox` });
      const failed = await scan.finished(job, 20_000);
      const stored = await scan.queue.getJob(job.id ?? "");
      serve.proc.kill("SIGTERM");
      wrong.proc.kill("SIGTERM");
      await Promise.all([serve.exited(Date.now()), wrong.exited(Date.now())]);
      const outputs = [
        serve.output(),
        wrong.output(),
        stored?.failedReason ?? "",
        ...(stored?.stacktrace ?? []),
      ];
      const leaks = outputs.filter((text) => text.includes(password)).length;
      const lost = serve.lines().filter((l) => l.msg === "redis connection lost").length;
      return {
        held: leaks === 0 && lost === 1 && !failed.ok,
        outcome: `${leaks} outputs with the password; ${lost} "connection lost" line(s) for one outage; failure reason: ${failed.ok ? "none" : failed.reason}`,
      };
    } finally {
      serve.proc.kill("SIGKILL");
      wrong.proc.kill("SIGKILL");
      await scan.close().catch(() => undefined);
      await redis.stop();
    }
  },
};

/** `hypwatch check --tree URL`, as a user runs it. */
function checkCli(tree: string, cacheDir: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "check", "--tree", tree],
      { cwd: root, timeout: 60_000, env: { ...process.env, HYPWATCH_CACHE: cacheDir } },
      (_error, stdout, stderr) => resolve(stdout + stderr),
    );
  });
}

const treeCredentials: AttackCase = {
  name: "credentials in the tree URL, in the clone error (CLI and check job)",
  kind: "service",
  run: () =>
    inTempDir(async (dir) => {
      const token = `tok-${randomUUID()}`;
      const tree = `https://user:${token}@example.invalid/linux.git`;
      const cli = await checkCli(tree, path.join(dir, "cli"));
      const config = configSchema.parse({ tree, cacheDir: path.join(dir, "service") });
      const prefix = `hypwatch-attack-${randomUUID()}`;
      const captured = captureLog();
      const service = startService(config, {
        prefix,
        log: captured.log,
        queues: serviceQueues(config).filter((q) => q.name === CHECK_QUEUE),
        sources: [],
      });
      const check = producer(CHECK_QUEUE, config.redisUrl, prefix);
      try {
        const job = await queueThreadCheck(service.store, check.queue, SCS_THREAD);
        // A failed clone is upstream's failure: the job is retried later, so its first
        // failed attempt is what there is to read.
        const deadline = Date.now() + 60_000;
        while (!captured.lines().some((l) => l.msg === "job failed") && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 100));
        const stored = await check.queue.getJob(job.id ?? "");
        const failed = stored?.failedReason
          ? { ok: false as const, reason: stored.failedReason }
          : { ok: true as const };
        const texts = [
          cli,
          captured.raw.join(""),
          stored?.failedReason ?? "",
          ...(stored?.stacktrace ?? []),
        ];
        const leaks = texts.filter((text) => text.includes(token)).length;
        return {
          held: leaks === 0 && !failed.ok && /clone failed/.test(cli),
          outcome: `${leaks} outputs with the token; CLI: ${cli.trim().split("\n").pop()}; job: ${failed.ok ? "completed?!" : failed.reason}`,
        };
      } finally {
        await service.close();
        await check.close();
      }
    }),
};

export const serviceAttacks: AttackCase[] = [
  neverEnds,
  sigtermMidJob,
  sigtermRedisDown,
  passwordAcrossOutage,
  treeCredentials,
];
