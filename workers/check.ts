import type { Job } from "bullmq";
import { Queue } from "bullmq";
import { Redis, type RedisOptions } from "ioredis";
import { ensureTree, type BuildConfigName } from "../src/apply/index.js";
import { refreshTree } from "../src/apply/refresh.js";
import { analyzerFingerprint } from "../src/check/fingerprint.js";
import { listBaseCandidates, listTree, type Config } from "../src/config.js";
import {
  checkRevision,
  recordStoppedCheck,
  type CheckedRevision,
  type CheckRevisionDeps,
  type ListTree,
} from "../src/pipeline/check-revision.js";
import type { CheckJobData, CheckScheduler } from "../src/pipeline/revisions.js";
import { StateStore } from "../src/state/store.js";
import type { Superseder, Verdict } from "../src/state/types.js";
import { redisConnection } from "./connection.js";
import { FINISHED_JOBS } from "./retention.js";
import type { ChildJob } from "./isolated.js";
import { requestStop } from "./stop.js";

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

function jobResult({ verdict, recorded }: CheckedRevision): CheckJobResult {
  return {
    kind: verdict.kind,
    checkKey: verdict.checkKey,
    findings: verdict.result?.findings.length ?? 0,
    recorded,
    lastArrivedAt: verdict.recordedAt - verdict.latencyMs,
    recordedAt: verdict.recordedAt,
  };
}

/** What a test of the queues may stand in for: the compiler, and the kernel tree. */
export type CheckStandIns = Partial<Pick<CheckRevisionDeps, "check" | "treeFor">>;

/**
 * Check the revision a job names (its patches are in the store, so any machine can) and
 * store the verdict once. Runs in a child process of its own (workers/isolated.ts).
 */
export function checkProcessor(config: Config, standIns: CheckStandIns = {}) {
  return async (job: Pick<Job<CheckJobData>, "data">): Promise<CheckJobResult> => {
    const store = openStore(config);
    try {
      const checked = await checkRevision(
        {
          store,
          config,
          configs: SERVICE_CONFIGS,
          analyzer: await analyzerFingerprint(),
          treeFor: (list) => treeOfList(config, list),
          ...standIns,
        },
        job.data,
      );
      return jobResult(checked);
    } finally {
      store.redis.disconnect();
    }
  };
}

/**
 * A check stopped while it ran (its revision superseded, `reason` naming by what, as
 * `queueScheduler` asks): its process and builds are gone; store its `superseded` verdict.
 */
export function checkStopped(config: Config) {
  return async (job: ChildJob, reason: string): Promise<CheckJobResult> => {
    const store = openStore(config);
    try {
      const by = JSON.parse(reason) as Superseder;
      const stopped = await recordStoppedCheck(
        { store, analyzer: await analyzerFingerprint() },
        job.data as CheckJobData,
        by,
      );
      return jobResult(stopped);
    } finally {
      store.redis.disconnect();
    }
  };
}

/** BullMQ job ids cannot be integers or hold ":"; a check key may look like neither. */
export const checkJobId = (checkKey: string): string => `check-${checkKey}`;

/**
 * Checks as BullMQ jobs: one job id per check key, so scheduling a check twice queues it
 * once; transient failures retry with exponential backoff and jitter. A running check taken
 * back is asked to stop through `publisher` (`requestStop`).
 */
export function queueScheduler(queue: Queue<CheckJobData>, publisher: Redis): CheckScheduler {
  return {
    async schedule(job, delayMs) {
      await queue.add("check", job, {
        jobId: checkJobId(job.checkKey),
        delay: delayMs,
        attempts: 5,
        backoff: { type: "exponential", delay: 60_000, jitter: 0.5 },
        ...FINISHED_JOBS,
      });
    },
    async cancel(checkKey, by) {
      const job = await queue.getJob(checkJobId(checkKey));
      if (!job) return;
      const state = await job.getState();
      if (state === "completed" || state === "failed") return;
      if (state === "waiting" || state === "delayed" || state === "prioritized") {
        const removed = await job.remove().then(
          () => true,
          () => false,
        );
        if (removed) return;
      }
      // Running (or started since): stopped by the worker running it, which stores its
      // `superseded` verdict. A stop that is not heard leaves the check to find the mark
      // when it ends.
      await requestStop(publisher, queue, {
        jobId: checkJobId(checkKey),
        reason: JSON.stringify(by),
      });
    },
  };
}
