import { Queue } from "bullmq";
import type { Config } from "../src/config.js";
import type { StatusData } from "../src/report/status.js";
import { stepsDue } from "../src/pipeline/check-revision.js";
import type { StateStore } from "../src/state/store.js";
import type { Verdict } from "../src/state/types.js";
import { CHECK_QUEUE } from "./check.js";
import { redisConnection } from "./connection.js";
import { SCAN_QUEUE } from "./scan.js";

/** The service's queues, as `status` and the metrics read their depths. */
export const SERVICE_QUEUE_NAMES = [CHECK_QUEUE, SCAN_QUEUE] as const;

/** Each queue's job counts by state. */
export async function queueDepths(
  config: Config,
  prefix: string,
): Promise<{ name: string; counts: Record<string, number> }[]> {
  const connection = redisConnection(config.redisUrl);
  return Promise.all(
    SERVICE_QUEUE_NAMES.map(async (name) => {
      const queue = new Queue(name, { connection, prefix });
      try {
        return { name, counts: await queue.getJobCounts() };
      } finally {
        await queue.close();
      }
    }),
  );
}

/** Everything `hypwatch status` prints, read from the shared Redis. */
export async function readStatus(
  config: Config,
  store: StateStore,
  latest = 10,
): Promise<StatusData> {
  const prefix = config.service.queuePrefix;
  const verdicts = await store.latestVerdicts(latest);
  const steps: Record<string, Verdict | "waiting"> = {};
  for (const v of verdicts) {
    const found = await store.steps(v.checkKey);
    if (found) steps[v.checkKey] = found;
    else if (stepsDue(v)) steps[v.checkKey] = "waiting";
  }
  return {
    prefix,
    queues: await queueDepths(config, prefix),
    lists: await Promise.all(
      config.lists.map(async (l) => ({ name: l.name, messages: await store.messageCount(l.name) })),
    ),
    checkpoints: await store.checkpoints(),
    verdicts,
    steps,
    verdictCount: await store.verdictCount(),
  };
}
