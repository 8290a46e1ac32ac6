import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildAttacks, tearDownBuildStage, useBuildAttackCache } from "../scripts/attack/build.js";
import { kernelTestsAvailable, testCacheDir } from "./linux-tree.js";

/*
 * Hostile series through `checkSeries` on the real linux-source-6.1 tree, sharing the test
 * cache's warm slot: a plant for the next series, a host file read into a symbol name, a
 * Makefile that outlasts the check, a base-commit naming a commit outside the tree's
 * history. The same cases run in `npm run attack`.
 */
const available = await kernelTestsAvailable();

describe.runIf(available)("hostile series against the real kernel build", () => {
  beforeAll(() => useBuildAttackCache(testCacheDir()));
  afterAll(tearDownBuildStage);
  for (const attack of buildAttacks)
    it(
      `${attack.kind}: ${attack.name}`,
      async () => {
        const outcome = await attack.run();
        expect(outcome.held, outcome.outcome).toBe(true);
      },
      45 * 60_000,
    );
});
