import type { Job } from "bullmq";
import { Queue } from "bullmq";
import { Redis, type RedisOptions } from "ioredis";
import { ensureTree, type BuildConfigName } from "../src/apply/index.js";
import { refreshTree } from "../src/apply/refresh.js";
import { analyzerFingerprint } from "../src/check/fingerprint.js";
import { listBaseCandidates, listTree, type Config } from "../src/config.js";
import {
  checkRevision,
  checkSteps,
  recordStoppedCheck,
  stepsDue,
  type CheckedRevision,
  type CheckedSteps,
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
  /** A steps job's result (`CheckJobData.steps`): not a verdict. */
  steps?: boolean;
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

/** Steps jobs wait behind every check without a priority (BullMQ runs those first). */
const STEPS_PRIORITY = 100;

/** Queue the steps of a checked revision (`checkSteps`): once per check key. */
async function queueSteps(config: Config, job: CheckJobData): Promise<void> {
  const queue = new Queue<CheckJobData>(CHECK_QUEUE, {
    connection: redisConnection(config.redisUrl),
    prefix: config.service.queuePrefix,
  });
  try {
    await queue.add(
      "steps",
      { checkKey: job.checkKey, revision: job.revision, steps: true },
      {
        jobId: stepsJobId(job.checkKey),
        priority: STEPS_PRIORITY,
        attempts: 3,
        backoff: { type: "exponential", delay: 60_000, jitter: 0.5 },
        ...FINISHED_JOBS,
      },
    );
  } finally {
    await queue.close();
  }
}

/**
 * Check the revision a job names (its patches are in the store, so any machine can) and
 * store the verdict once; when the verdict built only the base and the final state, queue
 * the build of every step behind the other checks. A steps job (`CheckJobData.steps`)
 * builds them and stores the steps verdict once. Runs in a child process of its own
 * (workers/isolated.ts).
 */
export function checkProcessor(config: Config, standIns: CheckStandIns = {}) {
  return async (job: Pick<Job<CheckJobData>, "data">): Promise<CheckJobResult> => {
    const store = openStore(config);
    try {
      const deps: CheckRevisionDeps = {
        store,
        config,
        configs: SERVICE_CONFIGS,
        analyzer: await analyzerFingerprint(),
        treeFor: (list) => treeOfList(config, list),
        ...standIns,
      };
      if (job.data.steps) return stepsResult(job.data, await checkSteps(deps, job.data));
      const checked = await checkRevision(deps, job.data);
      // Queued again by a run after a crash as well: the job id makes twice once.
      if (stepsDue(checked.verdict)) await queueSteps(config, job.data);
      return jobResult(checked);
    } finally {
      store.redis.disconnect();
    }
  };
}

function stepsResult(job: CheckJobData, { steps, recorded }: CheckedSteps): CheckJobResult {
  return {
    steps: true,
    kind: steps?.kind ?? "clean",
    checkKey: job.checkKey,
    findings: steps?.result?.findings.length ?? 0,
    recorded,
    lastArrivedAt: steps ? steps.recordedAt - steps.latencyMs : 0,
    recordedAt: steps?.recordedAt ?? 0,
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

/** The job that builds every step of a checked revision. */
export const stepsJobId = (checkKey: string): string => `steps-${checkKey}`;

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
      // The steps of a checked revision go too: they would only find what no one reads.
      for (const jobId of [checkJobId(checkKey), stepsJobId(checkKey)]) {
        const job = await queue.getJob(jobId);
        if (!job) continue;
        const state = await job.getState();
        if (state === "completed" || state === "failed") continue;
        if (state === "waiting" || state === "delayed" || state === "prioritized") {
          const removed = await job.remove().then(
            () => true,
            () => false,
          );
          if (removed) continue;
        }
        // Running (or started since): stopped by the worker running it, which stores a
        // check's `superseded` verdict (a steps job's check has its verdict already). A stop
        // that is not heard leaves the job to find the mark when it ends.
        await requestStop(publisher, queue, { jobId, reason: JSON.stringify(by) });
      }
    },
  };
}
