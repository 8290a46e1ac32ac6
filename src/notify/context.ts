import { parseMail } from "../mail/index.js";
import type { ReportContext, ReportedRevision, ThreadPost } from "../shapes/report.js";
import type { StateStore } from "../state/store.js";

/**
 * A revision and its verdict (`steps`: its steps verdict) from the store; null when either
 * is missing.
 */
async function reported(
  store: StateStore,
  checkKey: string,
  steps = false,
): Promise<ReportedRevision | null> {
  const verdict = await (steps ? store.steps(checkKey) : store.verdict(checkKey));
  if (!verdict) return null;
  const revision = await store.revision(verdict.revision);
  if (!revision) return null;
  return { list: revision.list, revision: revision.key, series: revision.series, verdict };
}

/**
 * The newest earlier version of the series with a verdict that says something (not
 * `superseded`): what a reply on v(N+1) compares with.
 */
async function previousRevision(
  store: StateStore,
  current: ReportedRevision,
): Promise<ReportedRevision | null> {
  const earlier = current.series.revisions
    .filter((r) => r.version < current.series.version)
    .sort((a, b) => b.version - a.version);
  const heads = await store.heads(current.list, earlier);
  for (const head of heads) {
    const check = head?.check ?? head?.lastCheck;
    if (!check) continue;
    const found = await reported(store, check);
    if (found && found.verdict.kind !== "superseded") return found;
  }
  return null;
}

/** A stored cover letter or patch as a reporter needs it; null when it was not kept raw. */
async function threadPost(store: StateStore, messageId: string): Promise<ThreadPost | null> {
  const raw = await store.rawMail(messageId);
  return raw ? postOf(raw, `<${messageId}>`) : null;
}

/** A cover letter or patch, from its raw mail, as a reporter needs it. */
export async function postOf(raw: Buffer, origin: string): Promise<ThreadPost> {
  const mail = await parseMail({ raw, origin });
  return {
    messageId: mail.messageId,
    subject: mail.subject.raw,
    author: mail.author,
    to: mail.to,
    cc: mail.cc,
    references: mail.references,
    automated: mail.automated,
    files: mail.patch?.files ?? [],
  };
}

/**
 * Everything a reporter is given about the verdict stored under `checkKey`, or with `steps`
 * about its steps verdict (compared with no earlier version: it is about this one's patches).
 */
export async function loadReportContext(
  store: StateStore,
  checkKey: string,
  { steps = false }: { steps?: boolean } = {},
): Promise<ReportContext | null> {
  const current = await reported(store, checkKey, steps);
  if (!current) return null;
  const previous = steps ? null : await previousRevision(store, current);
  const ids = [
    ...(current.series.coverMessageId ? [current.series.coverMessageId] : []),
    ...current.series.patches.map((p) => p.messageId),
  ];
  const posts = new Map<string, ThreadPost>();
  for (const id of ids) {
    const post = await threadPost(store, id);
    if (post) posts.set(id, post);
  }
  const family = [current.series.id, ...current.series.revisions.map((r) => r.id)];
  const ignored = await store.ignoredRules(current.list, family);
  return { current, previous, posts, ignored, ...(steps ? { steps } : {}) };
}
