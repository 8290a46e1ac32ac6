import type { Config } from "../src/config.js";
import { CHECK_QUEUE, checkStopped } from "../workers/check.js";
import { siblingModule } from "../workers/isolated.js";
import type { ServiceQueue } from "../workers/serve.js";

/**
 * A service's check queue whose jobs run one of the stand-in checks of
 * workers/fixtures/checks.ts (no compiler, no kernel tree), stopped as real checks are.
 */
export function standInCheckQueue(config: Config, exportName: string): ServiceQueue {
  return {
    name: CHECK_QUEUE,
    processor: { module: siblingModule("../workers/fixtures/checks", import.meta.url), exportName },
    timeLimitMs: 60_000,
    concurrency: 1,
    stopped: checkStopped(config),
  };
}
