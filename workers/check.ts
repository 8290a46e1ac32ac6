import type { Job } from "bullmq";
import { ensureTree } from "../src/apply/index.js";
import type { Config } from "../src/config.js";
import { checkSeries, type CheckResult } from "../src/pipeline/check.js";
import { checkRequest, selectSeries } from "../src/pipeline/select.js";

export const CHECK_QUEUE = "hypwatch-check";

export interface CheckJob {
  /** A thread or series (any source `scan` reads); its newest complete revision is checked. */
  mbox: string;
  base?: string;
}

/** Apply a series to the configured tree and check its hyp code. */
export function checkProcessor(config: Config) {
  return async (job: Pick<Job<CheckJob>, "data">): Promise<CheckResult> => {
    const repo = await ensureTree({ tree: config.tree, cacheDir: config.cacheDir });
    const selected = await selectSeries(job.data.mbox, config);
    return checkSeries(checkRequest(repo, selected, config, { base: job.data.base ?? null }));
  };
}
