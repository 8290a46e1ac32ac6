import { type Config } from "../config.js";
import { DEFAULT_MAIL_LIMITS, type MailLimits } from "../mail/limits.js";
import { readSource, type SourceOptions } from "../intake/index.js";
import { parseMails } from "../intake/parsePool.js";
import type { SourceError } from "../intake/errors.js";
import type { MailParseError } from "../mail/types.js";
import { SeriesAssembler, type AssembleOptions, type ThreadLimitError } from "../series/index.js";
import type { BotMailEntry, Series } from "../series/types.js";

export interface ScanResult {
  series: Series[];
  /** Mail with a diff that programs sent (notices, reports, thank-yous): never a series. */
  botMail: BotMailEntry[];
  messages: number;
  /**
   * Messages that could not be read or parsed, were over a limit, or were kept out of their
   * thread by one; each names the message, and the scan went on.
   */
  errors: ScanError[];
  /** The last public-inbox commit read: where the next scan resumes. */
  lastCommit: string | null;
}

export type ScanError = MailParseError | SourceError | ThreadLimitError;

export interface ScanOptions extends Omit<SourceOptions, "onError" | "limits"> {
  /** Parsing threads; 0 parses on this thread. Defaults to the number of cores. */
  workers?: number;
  /** Called for each message that cannot be read or parsed; the scan goes on. */
  onError?: (error: ScanError) => void;
}

/** Read a source, parse every message, and assemble the series it holds. */
export async function scanSource(
  source: string,
  config: Pick<Config, "relevantPaths"> & Partial<Pick<Config, "mailLimits">>,
  opts: ScanOptions = {},
): Promise<ScanResult> {
  const limits = config.mailLimits ?? DEFAULT_MAIL_LIMITS;
  const errors: ScanError[] = [];
  const fail = (error: ScanError) => {
    errors.push(error);
    opts.onError?.(error);
  };
  const assembler = new SeriesAssembler({
    relevantPatterns: config.relevantPaths,
    ...assemblyLimits(limits),
    onLimit: fail,
  });
  let messages = 0;
  let lastCommit: string | null = null;
  const parsed = parseMails(readSource(source, { ...opts, limits, onError: fail }), {
    output: "summary",
    limits,
    ...(opts.workers === undefined ? {} : { workers: opts.workers }),
  });
  for await (const outcome of parsed) {
    messages++;
    if (outcome.commit) lastCommit = outcome.commit;
    if (outcome.ok) assembler.addSummary(outcome.value);
    else fail(outcome.error);
  }
  return {
    series: assembler.finish(),
    botMail: assembler.botMail(),
    messages,
    errors,
    lastCommit,
  };
}

/** The limits series assembly applies, by their AssembleOptions names. */
export function assemblyLimits(
  limits: MailLimits,
): Pick<AssembleOptions, "maxThreadDepth" | "maxThreadFanOut" | "maxRevisionsListed"> {
  return {
    maxThreadDepth: limits.maxThreadDepth,
    maxThreadFanOut: limits.maxThreadFanOut,
    maxRevisionsListed: limits.maxRevisionsListed,
  };
}
