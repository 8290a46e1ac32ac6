import type { RawMail } from "../mail/types.js";
import type { MailParseError } from "../mail/types.js";
import { ingestMail } from "./ingest.js";
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
  /** Called after each message read. */
  onProgress?: (progress: BackfillProgress) => void;
  /** A message that could not be read or parsed, named; the backfill goes on. */
  onError?: (error: MailParseError) => void;
}

export interface BackfillResult extends BackfillProgress {
  series: number;
  scheduled: number;
}

/**
 * Series are brought up to date every this many stored messages (and at the end); never
 * fewer than a window's worth, or a series could pass through the window unseen.
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
  let pending = 0;
  const update = async () => {
    const result = await updateRevisions({ store: deps.store, scheduler: deps.scheduler }, policy);
    series = result.series;
    scheduled += result.scheduled;
    pending = 0;
  };
  for await (const mail of mails) {
    progress.read++;
    const outcome = await ingestMail(
      { store: deps.store, limits: policy.limits },
      policy.list,
      mail,
    );
    if (!outcome.ok) {
      progress.skipped++;
      deps.onError?.(outcome.error);
    } else if (outcome.newInList) {
      progress.stored++;
      if (++pending >= Math.min(UPDATE_EVERY, policy.windowMessages)) await update();
    }
    deps.onProgress?.(progress);
  }
  if (pending > 0) await update();
  return { ...progress, series, scheduled };
}
