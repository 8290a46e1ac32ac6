import type { JobsOptions } from "bullmq";

const DAY_S = 24 * 3600;

/**
 * How long every queue of the service keeps a finished job: a month when it completed,
 * three when it failed (to read why), and never more than 10,000 of either per queue, so
 * a flood (a backfill queuing thousands of checks) cannot grow Redis without bound. BullMQ
 * deletes the older ones as later jobs finish; it sets no TTL. Nothing is lost with them:
 * a check's verdict and a report's side effects are kept in the state (docs/state.md), and
 * a job queued again under the same id finds them and does nothing.
 */
export const FINISHED_JOBS = {
  removeOnComplete: { age: 30 * DAY_S, count: 10_000 },
  removeOnFail: { age: 90 * DAY_S, count: 10_000 },
} as const satisfies Pick<JobsOptions, "removeOnComplete" | "removeOnFail">;
