import { getNextMillis, Queue, Worker, type ConnectionOptions, type Job } from "bullmq";
import { ConfigError, type Config } from "../src/config.js";
import type { Logger } from "../src/log.js";
import {
  sendDigest,
  type DigestConfig,
  type DigestOutcome,
  type DigestPeriod,
} from "../src/notify/digest.js";
import type { MailSender } from "../src/notify/mail.js";
import type { StateStore } from "../src/state/store.js";
import { toJobFailure } from "./job-error.js";
import { mailSenders } from "./mail.js";
import { FINISHED_JOBS } from "./retention.js";

export const DIGEST_QUEUE = "hypwatch-digest";

export interface DigestJobData {
  /** The digest's name (`digests[].name`). */
  digest: string;
  /** A run outside the schedule: its time (ms), the end of the period it digests. */
  scheduledAt?: number;
}

/** How a scheduler repeats: what the period of one of its runs is derived from. */
export interface DigestRepeat {
  pattern?: string;
  every?: number;
  tz?: string;
}

const HOUR = 3600_000;
const DAY = 24 * HOUR;

/** The scheduler of a digest (one per configured digest, shared by every serve process). */
export const digestSchedulerId = (name: string): string => `digest:${name}`;

/**
 * When a digest job was due: from its data for a run outside the schedule, else from the id
 * BullMQ gives a scheduler's job (`repeat:<scheduler>:<ms>`), else from its options. A retry
 * of the job is due at the same time, so it digests the same period.
 */
export function scheduledAt(
  job: Pick<Job<DigestJobData>, "id" | "data" | "opts" | "timestamp">,
): number {
  if (typeof job.data.scheduledAt === "number") return job.data.scheduledAt;
  const fromId = /^repeat:.*:(\d+)$/.exec(job.id ?? "")?.[1];
  if (fromId) return Number(fromId);
  if (typeof job.opts.prevMillis === "number") return job.opts.prevMillis;
  return job.timestamp + (job.opts.delay ?? 0);
}

/**
 * The period a run at `at` digests: from the schedule's previous run to `at`. The previous
 * run is found with BullMQ's own next-run computation, searching back from `at` in doubling
 * steps, so it is the run BullMQ scheduled (or would have).
 */
export function digestPeriod(repeat: DigestRepeat, at: number): DigestPeriod {
  const end = new Date(at);
  if (repeat.every) return { start: new Date(at - repeat.every), end };
  const opts = { pattern: repeat.pattern ?? "0 6 * * *", tz: repeat.tz ?? "UTC" };
  for (let back = 60_000; back <= 400 * DAY; back *= 2) {
    let run = getNextMillis(at - back, opts);
    if (run === undefined || run >= at) continue;
    for (let steps = 0; steps < 100_000; steps++) {
      const next = getNextMillis(run, opts);
      if (next === undefined || next >= at) return { start: new Date(run), end };
      run = next;
    }
  }
  // No earlier run within a year (a pattern naming one date): a day, as by default.
  return { start: new Date(at - DAY), end };
}

/** Where a digest goes: SMTP when it is switched to send, else the outbox Maildir. */
export function digestSenders(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
): { senderFor(digest: DigestConfig): MailSender; close(): void } {
  const { outbox: dryRun, smtp } = mailSenders(config, env);
  return {
    senderFor(digest) {
      if (!digest.send) return dryRun;
      if (!smtp) throw new ConfigError([`digest ${digest.name}: send needs mail.smtp`]);
      return smtp;
    },
    close() {
      dryRun.close();
      smtp?.close();
    },
  };
}

/** The problems of the configured digests that the schema alone cannot see. */
export function digestConfigProblems(config: Config): string[] {
  const problems: string[] = [];
  const lists = new Set(config.lists.map((l) => l.name));
  config.digests.forEach((digest, i) => {
    digest.lists.forEach((list, j) => {
      if (!lists.has(list)) problems.push(`digests.${i}.lists.${j}: no list named "${list}"`);
    });
    if (digest.send && !config.mail.smtp)
      problems.push(`digests.${i}.send: sending needs mail.smtp (off: the outbox Maildir)`);
    try {
      if (getNextMillis(Date.now(), { pattern: digest.schedule, tz: "UTC" }) === undefined)
        problems.push(`digests.${i}.schedule: "${digest.schedule}" never runs`);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      problems.push(`digests.${i}.schedule: "${digest.schedule}" is not a cron pattern: ${reason}`);
    }
  });
  return problems;
}

/**
 * How far a period lags its run: a verdict is stamped with its worker's clock a moment before
 * it is written, and machines' clocks differ, so the run at 06:00 digests verdicts stamped
 * until 05:59 and the next run takes on from there. Periods stay end to end.
 */
export const DIGEST_SETTLE_MS = 60_000;

export interface DigestProcessorDeps {
  store: StateStore;
  log: Logger;
  senderFor(digest: DigestConfig): MailSender;
  now?: () => Date;
  /** Default `DIGEST_SETTLE_MS`. */
  settleMs?: number;
}

/** Send the digest a job names, for the period that ends when the job was due. */
export function digestProcessor(config: Config, deps: DigestProcessorDeps) {
  return async (
    job: Pick<Job<DigestJobData>, "id" | "data" | "opts" | "timestamp">,
  ): Promise<DigestOutcome> => {
    try {
      const digest = config.digests.find((d) => d.name === job.data.digest);
      if (!digest) throw new ConfigError([`digests: no digest named "${job.data.digest}"`]);
      // A scheduler's job carries its repeat options (typed internal by BullMQ): the period
      // follows the schedule that produced the job, even while the config is being changed.
      const scheduled = (job.opts as { repeat?: DigestRepeat }).repeat;
      const repeat =
        scheduled?.pattern || scheduled?.every ? scheduled : { pattern: digest.schedule };
      const settle = deps.settleMs ?? DIGEST_SETTLE_MS;
      const run = digestPeriod(repeat, scheduledAt(job));
      const period = {
        start: new Date(run.start.getTime() - settle),
        end: new Date(run.end.getTime() - settle),
      };
      return await sendDigest(
        {
          store: deps.store,
          sender: deps.senderFor(digest),
          config,
          log: deps.log.child({ queue: DIGEST_QUEUE, jobId: job.id }),
          ...(deps.now ? { now: deps.now } : {}),
        },
        { digest, period },
      );
    } catch (error) {
      throw toJobFailure(error instanceof Error ? error : new Error(String(error)));
    }
  };
}

export interface DigestOptions {
  connection: ConnectionOptions;
  prefix: string;
  store: StateStore;
  log: Logger;
  /** Default: the outbox Maildir, or SMTP for a digest switched to send (`digestSenders`). */
  senderFor?: (digest: DigestConfig) => MailSender;
  now?: () => Date;
  /** Default `DIGEST_SETTLE_MS`. */
  settleMs?: number;
}

export interface Digests {
  queue: Queue<DigestJobData>;
  worker: Worker<DigestJobData, DigestOutcome>;
  close(): Promise<void>;
}

/** Job options of every scheduled digest: a few retries, spread out (SMTP may be down). */
const JOB_OPTIONS = {
  attempts: 6,
  backoff: { type: "exponential", delay: 60_000 },
  ...FINISHED_JOBS,
};

/**
 * Schedule every configured digest on the shared Redis (one BullMQ job scheduler each, the
 * same from every serve process; a digest gone from the config loses its scheduler) and run
 * their jobs here: a digest is a few Redis reads and one mail, so it runs in this process.
 */
export async function startDigests(config: Config, opts: DigestOptions): Promise<Digests> {
  const problems = digestConfigProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  const { connection, prefix, log } = opts;
  const senders = digestSenders(config);
  const senderFor = opts.senderFor ?? senders.senderFor;
  const queue = new Queue<DigestJobData>(DIGEST_QUEUE, { connection, prefix });
  queue.on("error", (error) => log.debug({ err: error, queue: DIGEST_QUEUE }, "queue error"));
  try {
    const wanted = new Set(config.digests.map((d) => digestSchedulerId(d.name)));
    for (const scheduler of await queue.getJobSchedulers()) {
      if (scheduler.key.startsWith("digest:") && !wanted.has(scheduler.key))
        await queue.removeJobScheduler(scheduler.key);
    }
    for (const digest of config.digests) {
      await queue.upsertJobScheduler(
        digestSchedulerId(digest.name),
        { pattern: digest.schedule, tz: "UTC" },
        { name: "digest", data: { digest: digest.name }, opts: JOB_OPTIONS },
      );
    }
  } catch (error) {
    await queue.close();
    senders.close();
    throw error;
  }
  const processor = digestProcessor(config, {
    store: opts.store,
    log,
    senderFor,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.settleMs === undefined ? {} : { settleMs: opts.settleMs }),
  });
  const worker = new Worker<DigestJobData, DigestOutcome>(DIGEST_QUEUE, processor, {
    connection,
    prefix,
    concurrency: 1,
  });
  worker.on("error", (error) => log.debug({ err: error, queue: DIGEST_QUEUE }, "worker error"));
  worker.on("failed", (job, error) =>
    log.warn({ queue: DIGEST_QUEUE, jobId: job?.id, err: error }, "digest job failed"),
  );
  log.info({ digests: config.digests.map((d) => d.name) }, "digests scheduled");
  return {
    queue,
    worker,
    async close() {
      await worker.close();
      await queue.close();
      senders.close();
    },
  };
}
