import path from "node:path";
import { UnrecoverableError, WaitingError, type Job } from "bullmq";
import type { Config } from "../src/config.js";
import { runInChild, type ChildOutcome } from "../src/io/child.js";
import { redact, redactError, type Logger } from "../src/log.js";
import type { JobOutcome, Metrics } from "./metrics.js";
import {
  JobProcessDiedError,
  JobProcessError,
  JobTimeLimitError,
  toJobFailure,
} from "./job-error.js";

/** A processor factory `(config) => (job) => Promise<result>` named by module and export. */
export interface ProcessorRef {
  /** File URL of the module. */
  module: string;
  exportName: string;
}

/** The job as a processor in the child sees it: what it is and what it carries. */
export interface ChildJob {
  id: string | undefined;
  name: string;
  data: unknown;
}

export interface ChildJobMessage {
  processor: ProcessorRef;
  config: Config;
  job: ChildJob;
}

/**
 * A sibling module of `base` by stem: `.ts` when running from source (tsx, vitest), `.js`
 * when built, so the child imports the same kind of file the parent runs.
 */
export function siblingModule(stem: string, base: string): string {
  const ext = path.extname(new URL(base).pathname);
  return new URL(`./${stem}${ext}`, base).href;
}

const CHILD_ENTRY = siblingModule("job-child", import.meta.url);

export interface IsolatedQueue {
  name: string;
  processor: ProcessorRef;
  timeLimitMs: number;
  /**
   * What a job stopped on request (`requestStop`) ends with, once its process is killed:
   * the job's result. Without it such a job fails for good.
   */
  stopped?: (job: ChildJob, reason: string) => Promise<unknown>;
}

/** What every running job of a service shares: its log, and a way to stop them all. */
export interface RunningJobs {
  log: Logger;
  /** Job durations, outcomes and failures by kind. */
  metrics?: Metrics;
  /** Called with each result a job returns. */
  onCompleted?: (queue: string, result: unknown) => void;
  /** Aborted at shutdown: the job's process is killed and the job handed back. */
  handBack: AbortSignal;
}

/**
 * A BullMQ processor that runs the queue's real processor in a child process (`runInChild`),
 * so that a job stuck in a synchronous loop or a blocked read stops only itself: past the
 * queue's time limit its process group is killed and the job failed, naming the job and the
 * limit, while this worker and the others go on.
 */
export function isolatedProcessor(queue: IsolatedQueue, config: Config, running: RunningJobs) {
  // Three parameters: BullMQ then hands each job a signal that `worker.cancelJob` aborts.
  return async (job: Job, token?: string, stop?: AbortSignal): Promise<unknown> => {
    const log = running.log.child({ queue: queue.name, jobId: job.id });
    const started = Date.now();
    log.info("job started");
    const outcome = await runInChild({
      entry: CHILD_ENTRY,
      message: {
        processor: queue.processor,
        config,
        job: { id: job.id, name: job.name, data: job.data },
      } satisfies ChildJobMessage,
      timeoutMs: queue.timeLimitMs,
      signal: stop ? AbortSignal.any([running.handBack, stop]) : running.handBack,
    });
    const durationMs = Date.now() - started;
    return settle(outcome, { job, token, queue, log, durationMs, running, stop });
  };
}

interface Settling {
  job: Job;
  token: string | undefined;
  queue: IsolatedQueue;
  log: Logger;
  durationMs: number;
  running: RunningJobs;
  stop: AbortSignal | undefined;
}

function observe(s: Settling, outcome: JobOutcome, error?: unknown): void {
  s.running.metrics?.observeJob({ queue: s.queue.name, outcome, durationMs: s.durationMs, error });
}

/**
 * The job's result, or the error BullMQ records for it (redacted: it is stored and shown),
 * logged with its kind and failed or retried by that kind (`toJobFailure`).
 */
async function settle(outcome: ChildOutcome, s: Settling): Promise<unknown> {
  switch (outcome.kind) {
    case "returned":
      s.log.info({ durationMs: s.durationMs }, "job completed");
      observe(s, "completed");
      s.running.onCompleted?.(s.queue.name, outcome.value);
      return outcome.value;
    case "threw": {
      const error = redactError(new JobProcessError(outcome.error));
      s.log.warn({ durationMs: s.durationMs, err: error }, "job failed");
      observe(s, "failed", error);
      throw toJobFailure(error);
    }
    case "timed-out": {
      const error = new JobTimeLimitError(s.job.id, s.queue.name, s.queue.timeLimitMs);
      s.log.warn(
        { durationMs: s.durationMs, timeLimitMs: s.queue.timeLimitMs, err: error },
        "job timed out",
      );
      observe(s, "timed-out", error);
      throw toJobFailure(error);
    }
    case "aborted":
      if (!s.running.handBack.aborted && s.stop?.aborted) return stopped(s);
      observe(s, "handed-back");
      return handBack(s);
    case "crashed": {
      const how = outcome.signal ? `signal ${outcome.signal}` : `exit code ${outcome.exitCode}`;
      const error = new JobProcessDiedError(s.job.id, s.queue.name, how);
      s.log.error(
        { durationMs: s.durationMs, stderrTail: redact(outcome.stderrTail), err: error },
        "job process died",
      );
      observe(s, "died", error);
      throw toJobFailure(error);
    }
  }
}

/**
 * A job stopped on request: its process group is killed already; the queue's `stopped`
 * gives its result, and the job completes (a stopped job is not retried).
 */
async function stopped(s: Settling): Promise<unknown> {
  const reason = String(s.stop?.reason ?? "");
  s.log.info({ durationMs: s.durationMs, reason }, "job stopped");
  observe(s, "stopped");
  if (!s.queue.stopped) throw new UnrecoverableError(`stopped: ${reason}`);
  const value = await s.queue.stopped({ id: s.job.id, name: s.job.name, data: s.job.data }, reason);
  s.running.onCompleted?.(s.queue.name, value);
  return value;
}

/** How long handing a job back may wait for Redis, inside the shutdown deadline (30 s). */
const HAND_BACK_MS = 2_000;

function withinMs<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis in ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/**
 * Put an interrupted job back in the wait list for another worker. With Redis down this
 * cannot be written; the job stays active, its lock expires (30 s) and another worker's
 * stalled-job check moves it back instead. Either way it is not lost.
 */
async function handBack(s: Settling): Promise<never> {
  try {
    await withinMs(HAND_BACK_MS, s.job.moveToWait(s.token));
    s.log.info({ durationMs: s.durationMs }, "job handed back");
  } catch (error) {
    s.log.warn(
      { durationMs: s.durationMs, err: error },
      "job not handed back; it returns when its lock expires",
    );
  }
  // Tells BullMQ the job left the active list on purpose: neither completed nor failed.
  throw new WaitingError();
}
