import type { Job } from "bullmq";
import type { Config } from "../src/config.js";
import { scanSource } from "../src/pipeline/scan.js";
import { summarizeScan, type ScanSummary } from "../src/report/scan.js";

export const SCAN_QUEUE = "hypwatch-scan";

export interface ScanJob {
  source: string;
  /** public-inbox: resume after this commit. */
  since?: string;
}

export interface ScanJobResult {
  summary: ScanSummary;
  lastCommit: string | null;
  /** Ids of the newest revisions that touch arm64 KVM: what the check queue takes next. */
  relevantSeries: string[];
  errors: string[];
}

/** Read a source and assemble its series; small result, safe to store in Redis. */
export function scanProcessor(config: Config) {
  return async (job: Pick<Job<ScanJob>, "data">): Promise<ScanJobResult> => {
    // A source that cannot be read throws a permanent SourceError: the worker fails the job
    // without retrying it (workers/job-error.ts).
    const result = await scanSource(job.data.source, config, {
      ...(job.data.since ? { since: job.data.since } : {}),
    });
    return {
      summary: summarizeScan(result.series, result.messages, result.errors.length, result.botMail),
      lastCommit: result.lastCommit,
      relevantSeries: result.series.filter((s) => s.relevant && s.newest).map((s) => s.id),
      errors: result.errors.map((e) => e.message),
    };
  };
}
