import { DEFAULT_MAIL_LIMITS } from "../src/mail/limits.js";
import { readSource } from "../src/intake/index.js";
import { ingestMail } from "../src/pipeline/ingest.js";
import {
  updateRevisions,
  type CheckJobData,
  type RevisionPolicy,
} from "../src/pipeline/revisions.js";
import type { StateStore } from "../src/state/store.js";
import { DEFAULT_RELEVANT_PATTERNS } from "../src/series/relevance.js";

/** The kvmarm list's revision policy as tests use it: the service's defaults, a test analyzer. */
export const testPolicy = (overrides: Partial<RevisionPolicy> = {}): RevisionPolicy => ({
  list: "kvmarm",
  relevantPaths: DEFAULT_RELEVANT_PATTERNS,
  limits: DEFAULT_MAIL_LIMITS,
  windowMessages: 5000,
  marginMessages: 1000,
  partialWaitMs: 3_600_000,
  check: { candidates: [], configs: ["defconfig", "instrumented"], analyzer: "test" },
  ...overrides,
});

/** Store a thread's mail in `store` and assemble it under `policy`: the checks it schedules. */
export async function scheduleThread(
  store: StateStore,
  thread: string,
  policy: RevisionPolicy = testPolicy(),
): Promise<CheckJobData[]> {
  const jobs: CheckJobData[] = [];
  const scheduler = {
    schedule: async (job: CheckJobData) => void jobs.push(job),
    cancel: async () => {},
  };
  for await (const mail of readSource(thread)) await ingestMail({ store }, policy.list, mail);
  await updateRevisions({ store, scheduler }, policy);
  return jobs;
}
