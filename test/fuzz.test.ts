import { describe, expect, it } from "vitest";
import { FUZZ_KINDS, casesOf, runCase } from "../scripts/fuzz-cases.js";

// A few hundred of the cases `npm run fuzz` runs a hundred thousand of.
describe("fuzz (small run)", () => {
  for (const kind of FUZZ_KINDS) {
    it(`${kind}: 80 generated cases, no crash`, async () => {
      const crashes: string[] = [];
      for (const [i, input] of casesOf(kind, 7, 80).entries()) {
        await runCase(kind, input).catch((e: unknown) => crashes.push(`${i}: ${String(e)}`));
      }
      expect(crashes).toEqual([]);
    });
  }
});
