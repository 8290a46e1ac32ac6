import type { Series } from "../series/types.js";

/** Which series (id and version) a stored cover letter or patch was last stored in. */
export interface StoredSeries {
  seriesId: string;
  version: number;
}

/** A series' cover letter, if any, then its patches: the mails its revisions are made of. */
export function mailsOf(series: Series): string[] {
  const ids = series.patches.map((p) => p.messageId);
  return series.coverMessageId ? [series.coverMessageId, ...ids] : ids;
}

/** Every Message-ID `storedIdentity` may look up for `series`. */
export function identityMails(series: Series): string[] {
  return [...mailsOf(series), ...series.revisions.map((r) => r.id)];
}

/**
 * The id the service stores a series under: the one it was first stored with. A series'
 * id is its cover letter's Message-ID, else its first patch's; when the patches arrive
 * first (live mail trickles in) the cover letter's arrival would rename it, and its stored
 * revision, check and report would be orphaned and the series checked again. So a series
 * whose mails were stored under the same version with an id that is one of its own patches
 * (or its own id) keeps that id, and so do the other revisions it names.
 */
export function storedIdentity(series: Series, stored: ReadonlyMap<string, StoredSeries>): Series {
  const own = new Set([series.id, ...series.patches.map((p) => p.messageId)]);
  const known = mailsOf(series)
    .map((id) => stored.get(id))
    .find((s) => s && s.version === series.version && own.has(s.seriesId));
  const id = known?.seriesId ?? series.id;
  let renamed = id !== series.id;
  const revisions = series.revisions.map((r) => {
    const s = stored.get(r.id);
    if (!s || s.version !== r.version || s.seriesId === r.id) return r;
    renamed = true;
    return { id: s.seriesId, version: r.version };
  });
  return renamed ? { ...series, id, revisions } : series;
}
