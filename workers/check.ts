import type { Job } from "bullmq";
import { Queue } from "bullmq";
import { Redis, type RedisOptions } from "ioredis";
import { ensureTree, type BuildConfigName } from "../src/apply/index.js";
import { refreshTree } from "../src/apply/refresh.js";
import { analyzerFingerprint } from "../src/check/fingerprint.js";
import { listBaseCandidates, listTree, type Config } from "../src/config.js";
import { checkRevision, type ListTree } from "../src/pipeline/check-revision.js";
import type { CheckJobData, CheckScheduler } from "../src/pipeline/revisions.js";
import { StateStore } from "../src/state/store.js";
import type { Verdict } from "../src/state/types.js";
import { redisConnection } from "./connection.js";

export const CHECK_QUEUE = "hypwatch-check";

/** The configurations every service check builds. */
export const SERVICE_CONFIGS: readonly BuildConfigName[] = ["defconfig", "instrumented"];

/** The state of an installation: under its queue prefix, beside its queues. */
export function openStore(config: Config): StateStore {
  const redis = new Redis({
    ...(redisConnection(config.redisUrl) as RedisOptions),
    connectionName: "state",
  });
  // Outages are the Redis watcher's to report, once each (workers/redis-health.ts); the
  // commands waiting on this connection fail or go through when it is back.
  redis.on("error", () => undefined);
  return new StateStore(redis, `${config.service.queuePrefix}:state`);
}

/** The kernel tree and base candidates of a list (the top-level ones when it names none). */
export async function treeOfList(config: Config, list: string): Promise<ListTree> {
  const listed = config.lists.find((l) => l.name === list);
  const tree = listed ? listTree(listed, config) : config.tree;
  const repo = await ensureTree({ tree, cacheDir: config.cacheDir });
  if (tree)
    await refreshTree(repo, tree, {
      intervalMs: config.policies.treeFetchIntervalSeconds * 1000,
    });
  return { repo, candidates: listed ? listBaseCandidates(listed, config) : config.baseCandidates };
}

export interface CheckJobResult {
  kind: Verdict["kind"];
  checkKey: string;
  findings: number;
  /** This job stored the verdict (a job run again finds it stored and records nothing). */
  recorded: boolean;
  /** When the revision's last mail arrived and when the verdict was stored (ms). */
  lastArrivedAt: number;
  recordedAt: number;
}

/**
 * Check the revision a job names (its patches are in the store, so any machine can) and
 * store the verdict once. Runs in a child process of its own (workers/isolated.ts).
 */
export function checkProcessor(config: Config) {
  return async (job: Pick<Job<CheckJobData>, "data">): Promise<CheckJobResult> => {
    const store = openStore(config);
    try {
      const { verdict, recorded } = await checkRevision(
        {
          store,
          config,
          configs: SERVICE_CONFIGS,
          analyzer: await analyzerFingerprint(),
          treeFor: (list) => treeOfList(config, list),
        },
        job.data,
      );
      return {
        kind: verdict.kind,
        checkKey: verdict.checkKey,
        findings: verdict.result?.findings.length ?? 0,
        recorded,
        lastArrivedAt: verdict.recordedAt - verdict.latencyMs,
        recordedAt: verdict.recordedAt,
      };
    } finally {
      store.redis.disconnect();
    }
  };
}

/** BullMQ job ids cannot be integers or hold ":"; a check key may look like neither. */
export const checkJobId = (checkKey: string): string => `check-${checkKey}`;

/**
 * Checks as BullMQ jobs: one job id per check key, so scheduling a check twice queues it
 * once; transient failures retry with exponential backoff and jitter.
 */
export function queueScheduler(queue: Queue<CheckJobData>): CheckScheduler {
  return {
    async schedule(job, delayMs) {
      await queue.add("check", job, {
        jobId: checkJobId(job.checkKey),
        delay: delayMs,
        attempts: 5,
        backoff: { type: "exponential", delay: 60_000, jitter: 0.5 },
        removeOnComplete: { age: 30 * 24 * 3600 },
        removeOnFail: { age: 30 * 24 * 3600 },
      });
    },
    async cancel(checkKey) {
      const job = await queue.getJob(checkJobId(checkKey));
      if (!job) return;
      const state = await job.getState();
      // A running check sees the superseded mark when it ends; a queued one goes now.
      if (state === "waiting" || state === "delayed" || state === "prioritized")
        await job.remove().catch(() => undefined);
    },
  };
}
