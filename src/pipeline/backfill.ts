import type { RawMail } from "../mail/types.js";
import type { MailParseError } from "../mail/types.js";
import { ingestStream } from "./ingest.js";
import {
  updateRevisions,
  type CheckScheduler,
  type RevisionDeps,
  type RevisionPolicy,
} from "./revisions.js";

/** Takes no check: a backfill records what was there without checking the past. */
export const RECORD_ONLY: CheckScheduler = {
  schedule: async () => undefined,
  cancel: async () => undefined,
};

export interface BackfillProgress {
  read: number;
  stored: number;
  skipped: number;
}

export interface BackfillDeps {
  store: RevisionDeps["store"];
  scheduler: CheckScheduler;
  /** Called after each batch of messages is stored. */
  onProgress?: (progress: BackfillProgress) => void;
  /** A message that could not be read or parsed, named; the backfill goes on. */
  onError?: (error: MailParseError) => void;
}

export interface BackfillResult extends BackfillProgress {
  series: number;
  scheduled: number;
}

/**
 * Messages stored per batch, series brought up to date after each; never more than a
 * window's worth, or a series could pass through the window unseen.
 */
const UPDATE_EVERY = 1000;

/**
 * Store a list's existing mail (an archive, a mailbox) in the service's state, as if it had
 * arrived in that order, and bring its series up to date as it goes. With `RECORD_ONLY` the
 * revisions are recorded and none is checked: watching goes on from there, checking what
 * arrives next.
 */
export async function backfill(
  deps: BackfillDeps,
  policy: RevisionPolicy,
  mails: AsyncIterable<RawMail>,
): Promise<BackfillResult> {
  const progress: BackfillProgress = { read: 0, stored: 0, skipped: 0 };
  let series = 0;
  let scheduled = 0;
  const update = async () => {
    const result = await updateRevisions({ store: deps.store, scheduler: deps.scheduler }, policy);
    series = result.series;
    scheduled += result.scheduled;
  };
  const arriving = (async function* () {
    for await (const mail of mails) yield { mail };
  })();
  const batches = ingestStream(
    { store: deps.store, limits: policy.limits },
    policy.list,
    arriving,
    {
      batchSize: Math.min(UPDATE_EVERY, policy.windowMessages),
      ...(deps.onError ? { onError: deps.onError } : {}),
    },
  );
  for await (const batch of batches) {
    progress.read += batch.read;
    progress.stored += batch.fresh;
    progress.skipped += batch.skipped;
    if (batch.fresh > 0) await update();
    deps.onProgress?.(progress);
  }
  return { ...progress, series, scheduled };
}
