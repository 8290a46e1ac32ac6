import type { Config } from "../config.js";
import { readSource, type SourceOptions } from "../intake/index.js";
import { parseMails } from "../intake/parsePool.js";
import type { SourceError } from "../intake/errors.js";
import type { MailParseError } from "../mail/types.js";
import { SeriesAssembler } from "../series/index.js";
import type { Series } from "../series/types.js";

export interface ScanResult {
  series: Series[];
  messages: number;
  /** Messages that could not be read or parsed, each naming the message; the scan went on. */
  errors: (MailParseError | SourceError)[];
  /** The last public-inbox commit read: where the next scan resumes. */
  lastCommit: string | null;
}

export interface ScanOptions extends Omit<SourceOptions, "onError"> {
  /** Parsing threads; 0 parses on this thread. Defaults to the number of cores. */
  workers?: number;
  /** Called for each message that cannot be read or parsed; the scan goes on. */
  onError?: (error: MailParseError | SourceError) => void;
}

/** Read a source, parse every message, and assemble the series it holds. */
export async function scanSource(
  source: string,
  config: Pick<Config, "relevantPaths">,
  opts: ScanOptions = {},
): Promise<ScanResult> {
  const assembler = new SeriesAssembler({ relevantPatterns: config.relevantPaths });
  const errors: (MailParseError | SourceError)[] = [];
  const fail = (error: MailParseError | SourceError) => {
    errors.push(error);
    opts.onError?.(error);
  };
  let messages = 0;
  let lastCommit: string | null = null;
  const parsed = parseMails(readSource(source, { ...opts, onError: fail }), {
    output: "summary",
    ...(opts.workers === undefined ? {} : { workers: opts.workers }),
  });
  for await (const outcome of parsed) {
    messages++;
    if (outcome.commit) lastCommit = outcome.commit;
    if (outcome.ok) assembler.addSummary(outcome.value);
    else fail(outcome.error);
  }
  return { series: assembler.finish(), messages, errors, lastCommit };
}
