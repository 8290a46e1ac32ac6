import { readFile } from "node:fs/promises";
import path from "node:path";
import { type Config } from "../config.js";
import { DEFAULT_MAIL_LIMITS } from "../mail/limits.js";
import { readSource } from "../intake/index.js";
import { parseMail } from "../mail/index.js";
import type { MailMessage } from "../mail/types.js";
import { parseOne } from "../intake/parseBatch.js";
import { assembleSeries, defaultParseScore } from "../series/index.js";
import type { Series } from "../series/types.js";
import type { CheckPatch, CheckRequest } from "./check.js";
import { assemblyLimits, type ScanError } from "./scan.js";
import { HypwatchError } from "../errors.js";

/** A series picked for checking, with the raw mail of each patch. */
export interface SelectedSeries {
  series: Series | null;
  patches: CheckPatch[];
  baseCommit: string | null;
  /** The cover letter's raw mail, when the thread had one (replies answer it). */
  cover?: Buffer;
}

/** The mail names no series that can be checked. */
export class NoSeriesError extends HypwatchError {
  readonly kind = "permanent";
  constructor(
    readonly source: string,
    reason: string,
  ) {
    super(`${source}: ${reason}`);
  }
}

/**
 * The series `hypwatch check --mbox` checks: of the series in the mail, the newest complete
 * revision, preferring those that touch arm64 KVM; else the newest incomplete one.
 */
export function pickSeries(all: readonly Series[]): Series | null {
  const rank = (s: Series) => (s.complete ? 4 : 0) + (s.relevant ? 2 : 0) + (s.newest ? 1 : 0);
  let best: Series | null = null;
  for (const s of all) {
    if (s.patches.length === 0) continue;
    if (!best || rank(s) > rank(best) || (rank(s) === rank(best) && s.version > best.version))
      best = s;
  }
  return best;
}

export interface SelectOptions {
  /** Called for each message that cannot be read or parsed, or is over a limit; reading goes on. */
  onError?: (error: ScanError) => void;
}

/**
 * Read a thread (any source `readSource` takes) and select the series to check. Messages are
 * read as `scan` reads them: the same limits, a message that cannot be parsed is reported and
 * skipped, and of two copies of one Message-ID the better parsed one (the first on a tie) is
 * kept, so check takes the very patch mail scan listed.
 */
export async function selectSeries(
  source: string,
  config: Pick<Config, "relevantPaths"> & Partial<Pick<Config, "mailLimits">>,
  opts: SelectOptions = {},
): Promise<SelectedSeries> {
  const limits = config.mailLimits ?? DEFAULT_MAIL_LIMITS;
  const report = (error: ScanError): void => opts.onError?.(error);
  const messages = new Map<string, { message: MailMessage; raw: Buffer }>();
  for await (const raw of readSource(source, { limits, onError: report })) {
    const parsed = await parseOne(raw, "message", limits);
    if (!parsed.ok) {
      report(parsed.error);
      continue;
    }
    const message = parsed.value as MailMessage;
    const earlier = messages.get(message.messageId);
    if (!earlier || defaultParseScore(message) > defaultParseScore(earlier.message))
      messages.set(message.messageId, { message, raw: raw.raw });
  }
  const all = assembleSeries(
    [...messages.values()].map((m) => m.message),
    { relevantPatterns: config.relevantPaths, ...assemblyLimits(limits), onLimit: report },
  );
  const series = pickSeries(all);
  if (!series) throw new NoSeriesError(source, "no patch series in this mail");
  const patches: CheckPatch[] = series.patches.map((p) => {
    const entry = messages.get(p.messageId);
    if (!entry) throw new NoSeriesError(source, `patch <${p.messageId}> is not in this mail`);
    return { id: p.messageId, subject: p.subject, mail: entry.raw };
  });
  const metadataOf = (id: string | null) => {
    const m = id ? messages.get(id)?.message : undefined;
    return m?.metadata ?? m?.patch?.metadata;
  };
  const baseCommit =
    metadataOf(series.coverMessageId)?.baseCommit ??
    series.patches.map((p) => metadataOf(p.messageId)?.baseCommit).find(Boolean) ??
    null;
  const cover = series.coverMessageId ? messages.get(series.coverMessageId)?.raw : undefined;
  return { series, patches, baseCommit, ...(cover ? { cover } : {}) };
}

/** Patch files as `git format-patch` writes them, checked in the order given. */
export async function patchesFromFiles(files: readonly string[]): Promise<SelectedSeries> {
  const patches: CheckPatch[] = [];
  let baseCommit: string | null = null;
  for (const file of files) {
    const mail = await readFile(file);
    const message = await parseMail({ raw: mail, origin: file });
    baseCommit ??= message.patch?.metadata.baseCommit ?? message.metadata?.baseCommit ?? null;
    patches.push({ id: path.basename(file), subject: message.subject.raw, mail });
  }
  return { series: null, patches, baseCommit };
}

/** The check of a selected series on `repo`, with the configured base candidates. */
export function checkRequest(
  repo: string,
  selected: SelectedSeries,
  config: Pick<Config, "baseCandidates" | "cacheDir" | "build">,
  opts: Pick<CheckRequest, "base" | "configs" | "reuseBase"> = {},
): CheckRequest {
  const b = config.build;
  return {
    limits: {
      timeoutMs: b.buildTimeLimitSeconds * 1000,
      memoryBytes: b.memoryBytes,
      maxProcesses: b.processes,
      maxFileBytes: b.fileBytes,
      diskBytes: b.diskBytes,
      diskFiles: b.diskFiles,
      runAs: { uid: b.sandboxUid, gid: b.sandboxGid },
    },
    seriesTimeoutMs: b.seriesTimeLimitSeconds * 1000,
    sideBySide: b.configsSideBySide,
    compilerCache: b.compilerCache,
    repo,
    patches: selected.patches,
    series: selected.series
      ? { subject: selected.series.subject, version: selected.series.version }
      : null,
    baseCommit: selected.baseCommit,
    base: opts.base ?? null,
    candidates: config.baseCandidates,
    ...(opts.configs ? { configs: opts.configs } : {}),
    ...(opts.reuseBase === false ? { reuseBase: false } : {}),
    ...(config.cacheDir ? { cacheDir: config.cacheDir } : {}),
  };
}
