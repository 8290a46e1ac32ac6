import { createHash } from "node:crypto";
import type { MailLimits } from "../mail/limits.js";
import { assembleFromSummaries, type ThreadLimitError } from "../series/index.js";
import type { Series } from "../series/types.js";
import type { StateStore } from "../state/store.js";
import type { ArrivedMail, RequestedBy, Revision, SeriesHead, Superseder } from "../state/types.js";
import { assemblyLimits } from "./scan.js";
import { identityMails, mailsOf, storedIdentity } from "./series-identity.js";

/** A check to run: all a worker on any machine needs, since the rest is in the store. */
export interface CheckJobData {
  checkKey: string;
  revision: string;
  /** A base asked for by a command (`#hypwatch base <ref>`), tried instead of the usual ones. */
  base?: string;
  /** The command mail that asked for this check: the verdict is answered there. */
  requestedBy?: RequestedBy;
  /**
   * Build every patch of the checked revision in turn, after its verdict (`checkSteps`):
   * a job of its own, queued behind every check that has no verdict yet.
   */
  steps?: boolean;
}

/** How revisions become checks: a queue in the service, a list in tests. */
export interface CheckScheduler {
  /** Queue a check (a no-op if one with this key is queued), after `delayMs`. */
  schedule(job: CheckJobData, delayMs: number): Promise<void>;
  /**
   * Take a check back because `by` superseded it: out of the queue if it waits there,
   * stopped (its process and builds killed) if it runs.
   */
  cancel(checkKey: string, by: Superseder): Promise<void>;
}

/** What decides whether and when a list's revisions are checked. */
export interface RevisionPolicy {
  list: string;
  relevantPaths: readonly string[];
  limits: MailLimits;
  /** Messages per list assembled together when mail arrives. */
  windowMessages: number;
  /**
   * The oldest of them are read (they complete threads and link revisions) but no series
   * starting there is acted on: cut by the window, it could look new.
   */
  marginMessages: number;
  /** An incomplete newest revision is checked as partial after this long. */
  partialWaitMs: number;
  /** What else makes up the check key: the base asked for, the configurations, the analyzer. */
  check: { candidates: readonly string[]; configs: readonly string[]; analyzer: string };
}

export interface RevisionDeps {
  store: StateStore;
  scheduler: CheckScheduler;
  onLimit?: (error: ThreadLimitError) => void;
}

export interface RevisionUpdate {
  /** Series assembled from the window. */
  series: number;
  /** Revisions whose patches, completeness or newness changed, that touch arm64 KVM. */
  changed: number;
  scheduled: number;
  cancelled: number;
}

const sha = (value: unknown): string =>
  createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 24);

/** A revision's identity: its series, version and exact set of patches. */
export function revisionKey(series: Series): string {
  return sha({
    id: series.id,
    version: series.version,
    patches: series.patches.map((p) => p.messageId),
  });
}

/**
 * One check of a revision: once per (revision, base, configurations, analyzer version), and
 * per `extra` for a check someone asked for (the base named, the mail that asked).
 */
export function checkKey(
  revision: string,
  baseCommit: string | null,
  check: RevisionPolicy["check"],
  extra: Record<string, string | null> = {},
): string {
  return sha({ revision, baseCommit, ...check, ...extra });
}

/**
 * What supersedes the check of a revision that changed: its own newer patches when it is
 * still the newest, else the newest revision of its series.
 */
function supersederOf(series: Series): Superseder {
  const newest = series.newest ? undefined : series.revisions.at(-1);
  return newest
    ? { seriesId: newest.id, version: newest.version }
    : { seriesId: series.id, version: series.version };
}

/**
 * Bring a list's series up to date after mail arrived: assemble the most recent window of
 * its messages with the one series assembler `scan` uses, and for each revision touching
 * arm64 KVM whose patches, completeness or newness changed, store it and schedule or cancel
 * its check. A complete newest revision is checked now, an incomplete one after the partial
 * wait; a revision no longer newest (or whose patches changed) has its queued check taken
 * back. Replaying this with no new mail changes nothing.
 */
export async function updateRevisions(
  deps: RevisionDeps,
  policy: RevisionPolicy,
): Promise<RevisionUpdate> {
  const { store, scheduler } = deps;
  const window = await store.recentArrivals(
    policy.list,
    policy.windowMessages + policy.marginMessages,
  );
  const total = await store.messageCount(policy.list);
  const byId = new Map<string, ArrivedMail>(window.map((m) => [m.summary.messageId, m]));
  // Whole list in the window: nothing was cut, everything may be acted on.
  const firstActionable =
    window.length < total ? (window[0]?.seq ?? 0) + policy.marginMessages : -Infinity;
  const all = assembleFromSummaries(
    window.map((m, i) => ({ ...m.summary, seq: i })),
    {
      relevantPatterns: policy.relevantPaths,
      ...assemblyLimits(policy.limits),
      ...(deps.onLimit ? { onLimit: deps.onLimit } : {}),
    },
  );
  const update: RevisionUpdate = { series: all.length, changed: 0, scheduled: 0, cancelled: 0 };
  const assembled = all.filter((series) => {
    if (!series.relevant || series.patches.length === 0) return false;
    const firstSeq = Math.min(...mailsOf(series).map((id) => byId.get(id)?.seq ?? Infinity));
    return firstSeq >= firstActionable;
  });
  // Each series under the id it was first stored with (a late cover letter renames none).
  const stored = await store.revisionsOfMails(policy.list, assembled.flatMap(identityMails));
  const actionable = assembled.map((series) => storedIdentity(series, stored));
  // A cover letter that came after its series was stored leads to it from now on.
  const lateCovers = actionable.filter(
    (s, i) => s.coverMessageId && s.id !== assembled[i]?.id && !stored.has(s.coverMessageId),
  );
  if (lateCovers.length > 0)
    await store.putRevisionMails(
      policy.list,
      lateCovers.map((series) => ({ series })),
    );
  const heads = await store.heads(policy.list, actionable);
  // What changed, decided first; then written in a few round trips, in the order a crash
  // must find them: revisions, then checks taken back and queued, and each head last (a
  // head not yet written makes the next update decide the same again).
  const decided: {
    series: Series;
    revision: Revision;
    before: SeriesHead | null;
    wanted: string | null;
  }[] = [];
  for (const [i, series] of actionable.entries()) {
    const arrived = mailsOf(series).map((id) => byId.get(id));
    const key = revisionKey(series);
    const before = heads[i] ?? null;
    if (
      before &&
      before.revision === key &&
      before.newest === series.newest &&
      before.complete === series.complete
    )
      continue;
    // The cover letter's `base-commit:`, else the first patch's that has one.
    const baseCommit = arrived.map((m) => m?.summary.baseCommit).find(Boolean) ?? null;
    const revision: Revision = {
      key,
      list: policy.list,
      series,
      baseCommit,
      lastArrivedAt: Math.max(...arrived.map((m) => m?.arrivedAt ?? 0)),
    };
    const wanted = series.newest ? checkKey(key, baseCommit, policy.check) : null;
    decided.push({ series, revision, before, wanted });
  }
  update.changed = decided.length;
  if (decided.length === 0) return update;
  await store.putRevisions(
    policy.list,
    decided.map((d) => d.revision),
  );
  const cancelled = decided.flatMap(({ series, before, wanted }) =>
    before?.check && before.check !== wanted
      ? [{ checkKey: before.check, by: supersederOf(series) }]
      : [],
  );
  // Marked first: a check stopped now, or starting now, finds what superseded it.
  await store.markSuperseded(cancelled);
  await Promise.all(cancelled.map(({ checkKey, by }) => scheduler.cancel(checkKey, by)));
  update.cancelled = cancelled.length;
  const scheduled = decided.filter(({ before, wanted }) => wanted && before?.check !== wanted);
  await Promise.all(
    scheduled.map(({ series, revision, wanted }) =>
      scheduler.schedule(
        { checkKey: wanted ?? "", revision: revision.key },
        series.complete ? 0 : policy.partialWaitMs,
      ),
    ),
  );
  update.scheduled = scheduled.length;
  await store.setHeads(
    policy.list,
    decided.map(({ series, revision, before, wanted }) => ({
      seriesId: series.id,
      version: series.version,
      head: {
        revision: revision.key,
        newest: series.newest,
        relevant: true,
        complete: series.complete,
        check: wanted,
        lastCheck: wanted ?? before?.check ?? before?.lastCheck ?? null,
      },
    })),
  );
  return update;
}
