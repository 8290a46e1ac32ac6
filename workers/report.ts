import { randomUUID } from "node:crypto";
import { Queue, Worker, type ConnectionOptions, type Job } from "bullmq";
import { HypwatchError } from "../src/errors.js";
import type { Config } from "../src/config.js";
import { pause } from "../src/intake/live/common.js";
import type { Logger } from "../src/log.js";
import { loadReportContext } from "../src/notify/context.js";
import { githubReporterFromConfig } from "../src/notify/github.js";
import { listReplySettings, replyReporter } from "../src/notify/reply.js";
import type { Reporter } from "../src/notify/reporter.js";
import type { StateStore } from "../src/state/store.js";
import { keyHash } from "../src/state/keys.js";
import type { CommandAck, Verdict } from "../src/state/types.js";
import { toJobFailure } from "./job-error.js";
import { mailSenders } from "./mail.js";
import { FINISHED_JOBS } from "./retention.js";

export const REPORT_QUEUE = "hypwatch-report";

export interface ReportJobData {
  /** The verdict to report; empty for a command's answer. */
  checkKey: string;
  /** The outbox entry's key; every side effect of the job is recorded under a key made from it. */
  idempotencyKey: string;
  /** Report the check's steps verdict (`OutboxEntry.steps`). */
  steps?: boolean;
  /** The answer to a command mail (`#hypwatch ignore ...`), instead of a verdict. */
  ack?: CommandAck;
}

/** Where the outbox was read up to, beside the sources' checkpoints. */
export const OUTBOX_CURSOR = "outbox:report";
const DISPATCH_LEASE = "outbox-dispatch";
const LEASE_MS = 30_000;

/** When a verdict's reports may go out: after its list's embargo, counted from the last mail. */
export function reportDelayMs(config: Config, verdict: Verdict, now: number): number {
  const { policy } = listReplySettings(config, verdict.list);
  const lastArrivedAt = verdict.recordedAt - verdict.latencyMs;
  return Math.max(0, lastArrivedAt + policy.embargoHours * 3_600_000 - now);
}

export const reportJobId = (checkKey: string, steps = false): string =>
  `report-${steps ? "steps-" : ""}${checkKey}`;

/**
 * Move outbox entries into report jobs, one process at a time (a lease), from a cursor kept
 * in the store: an entry is queued (job id from its check key, so twice is once) before the
 * cursor passes it.
 */
export async function dispatchOutbox(
  deps: { store: StateStore; queue: Queue<ReportJobData>; config: Config; log: Logger },
  signal: AbortSignal,
  pollMs = 1000,
): Promise<void> {
  const { store, queue, config, log } = deps;
  const holder = randomUUID();
  while (!signal.aborted) {
    try {
      if (await store.holdLease(DISPATCH_LEASE, holder, LEASE_MS)) {
        const cursor = (await store.checkpoint(OUTBOX_CURSOR)) ?? "0";
        const entries = await store.outbox(cursor, 100);
        for (const entry of entries) {
          const verdict = entry.checkKey ? await store.verdict(entry.checkKey) : null;
          // A retest's answer goes to the one who asked, at once: no embargo.
          const delay =
            verdict && !verdict.requestedBy ? reportDelayMs(config, verdict, Date.now()) : 0;
          await queue.add(
            "report",
            {
              checkKey: entry.checkKey,
              idempotencyKey: entry.idempotencyKey,
              ...(entry.steps ? { steps: true } : {}),
              ...(entry.ack ? { ack: entry.ack } : {}),
            },
            {
              jobId: entry.checkKey
                ? reportJobId(entry.checkKey, entry.steps)
                : `ack-${keyHash(entry.idempotencyKey)}`,
              delay,
              attempts: 8,
              backoff: { type: "exponential", delay: 30_000, jitter: 0.5 },
              ...FINISHED_JOBS,
            },
          );
          await store.setCheckpoint(OUTBOX_CURSOR, entry.id);
        }
        if (entries.length === 100) continue;
      }
    } catch (error) {
      log.warn({ err: error }, "reading the outbox failed; trying again");
    }
    await pause(pollMs, signal);
  }
  await store.releaseLease(DISPATCH_LEASE, holder).catch(() => undefined);
}

/** A verdict that was in the outbox is no longer in the store. */
export class VerdictMissingError extends HypwatchError {
  readonly kind = "permanent";
}

/**
 * Run every reporter for one verdict. Each is idempotent (its ledger), so a retry after a
 * partial failure repeats nothing that was done; the first failure is thrown after all
 * reporters had their turn, for BullMQ to retry as its kind says.
 */
export function reportProcessor(deps: { store: StateStore; reporters: Reporter[]; log: Logger }) {
  return async (job: Pick<Job<ReportJobData>, "data" | "id">): Promise<{ reporters: string[] }> => {
    const { checkKey, idempotencyKey, ack, steps } = job.data;
    const log = deps.log.child({ job: job.id, checkKey });
    if (ack) {
      for (const reporter of deps.reporters) await reporter.acknowledge?.(ack, idempotencyKey);
      return { reporters: deps.reporters.filter((r) => r.acknowledge).map((r) => r.name) };
    }
    const context = await loadReportContext(deps.store, checkKey, { steps: steps === true });
    if (!context)
      throw toJobFailure(new VerdictMissingError(`no verdict or revision for ${checkKey}`));
    const failures: Error[] = [];
    for (const reporter of deps.reporters) {
      try {
        await reporter.report(context, idempotencyKey);
      } catch (error) {
        const err = error instanceof Error ? error : new Error(String(error));
        log.warn(
          { err, reporter: reporter.name, series: context.current.series.id },
          "report failed",
        );
        failures.push(err);
      }
    }
    if (failures[0]) throw toJobFailure(failures[0]);
    return { reporters: deps.reporters.map((r) => r.name) };
  };
}

/**
 * The reporters the configuration asks for: replies always (a dry run unless a list sends),
 * GitHub issues when `github` is configured and its token is set.
 */
export function configuredReporters(
  config: Config,
  store: StateStore,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Reporter[] {
  const { outbox, smtp } = mailSenders(config, env);
  const github = githubReporterFromConfig(config, store, log.child({ reporter: "github" }), env);
  return [
    replyReporter({
      store,
      config,
      outbox,
      smtp,
      log: log.child({ reporter: "reply" }),
    }),
    ...(github ? [github] : []),
  ];
}

export interface Reporting {
  /** Stop dispatching and reporting; `force`: do not wait for running jobs (Redis is down). */
  close(force?: boolean): Promise<void>;
}

/** This machine's part of reporting: the outbox dispatcher (one at a time) and a report worker. */
export function startReporting(
  config: Config,
  deps: { connection: ConnectionOptions; prefix: string; store: StateStore; log: Logger },
): Reporting {
  const log = deps.log.child({ queue: REPORT_QUEUE });
  const reporters = configuredReporters(config, deps.store, log);
  const queue = new Queue<ReportJobData>(REPORT_QUEUE, {
    connection: deps.connection,
    prefix: deps.prefix,
  });
  queue.on("error", (error) => log.debug({ err: error }, "report queue error"));
  const worker = new Worker<ReportJobData>(
    REPORT_QUEUE,
    reportProcessor({ store: deps.store, reporters, log }),
    { connection: deps.connection, prefix: deps.prefix, concurrency: 2 },
  );
  worker.on("error", (error) => log.debug({ err: error }, "report worker error"));
  const stop = new AbortController();
  const dispatching = dispatchOutbox({ store: deps.store, queue, config, log }, stop.signal);
  return {
    async close(force = false) {
      stop.abort();
      await dispatching.catch(() => undefined);
      await worker.close(force);
      await Promise.race([queue.close().catch(() => undefined), pause(1000)]);
      for (const reporter of reporters) await reporter.close?.();
    },
  };
}
