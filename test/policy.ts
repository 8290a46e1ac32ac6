import { DEFAULT_MAIL_LIMITS } from "../src/mail/limits.js";
import type { RevisionPolicy } from "../src/pipeline/revisions.js";
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
