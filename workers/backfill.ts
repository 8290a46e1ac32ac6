import { Queue } from "bullmq";
import { analyzerFingerprint } from "../src/check/fingerprint.js";
import type { Config } from "../src/config.js";
import { detectSource, listEpochs, readSource } from "../src/intake/index.js";
import { gitOk } from "../src/io/git.js";
import { backfill, RECORD_ONLY } from "../src/pipeline/backfill.js";
import type { CheckJobData } from "../src/pipeline/revisions.js";
import { escapeText } from "../src/report/escape.js";
import { createProgress, type ProgressStream } from "../src/report/progress.js";
import { CHECK_QUEUE, openStore, queueScheduler } from "./check.js";
import { redisConnection } from "./connection.js";
import { findList, revisionPolicy } from "./lists.js";

export interface BackfillRequest {
  source: string;
  list: string;
  /** Queue checks of the newest revisions found; otherwise they are recorded only. */
  check: boolean;
  stream?: ProgressStream;
}

/** Messages in a public-inbox archive (one commit each), for the progress total. */
async function archiveSize(source: string): Promise<number | undefined> {
  if ((await detectSource(source)) !== "public-inbox") return undefined;
  const epochs = (await listEpochs(source)).length > 0 ? await listEpochs(source) : [source];
  let total = 0;
  for (const epoch of epochs)
    total += Number(await gitOk(epoch, ["rev-list", "--count", "HEAD"]).catch(() => "0"));
  return total || undefined;
}

/**
 * `hypwatch backfill`: store a list's existing mail in the shared state with a progress bar
 * on a terminal (plain progress lines in a log), naming each message that is skipped.
 */
export async function runBackfill(config: Config, request: BackfillRequest): Promise<void> {
  const list = findList(config, request.list);
  const stream = request.stream ?? process.stderr;
  const store = openStore(config);
  const checks = request.check
    ? new Queue<CheckJobData>(CHECK_QUEUE, {
        connection: redisConnection(config.redisUrl),
        prefix: config.service.queuePrefix,
      })
    : null;
  const total = await archiveSize(request.source);
  const progress = createProgress({
    stream,
    label: `backfilling ${list.name}`,
    unit: "messages",
    ...(total ? { total } : {}),
  });
  try {
    await store.ensureSchema();
    const policy = revisionPolicy(config, list, await analyzerFingerprint());
    const report = (error: Error) => stream.write(`hypwatch: ${escapeText(error.message)}\n`);
    const result = await backfill(
      {
        store,
        scheduler: checks ? queueScheduler(checks, store.redis) : RECORD_ONLY,
        onProgress: (p) => progress.update(p.read),
        onError: report,
      },
      policy,
      readSource(request.source, { limits: config.mailLimits, onError: report }),
    );
    progress.done(
      `${result.read} messages read, ${result.stored} new, ${result.skipped} skipped; ` +
        `${result.series} series in the newest window; ` +
        (checks
          ? `${result.scheduled} checks queued`
          : `revisions recorded, no check queued (${result.scheduled} would have been)`),
    );
  } finally {
    // On a terminal the bar redraws until it is done: end it whatever happened.
    progress.done();
    await checks?.close();
    store.redis.disconnect();
  }
}
