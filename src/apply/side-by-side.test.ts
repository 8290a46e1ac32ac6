import { describe, expect, it } from "vitest";
import type { KbuildLimits } from "../io/kbuild.js";
import { sideBySide } from "./series.js";
import type { BuildConfigName, HypBuildResult } from "./types.js";

const CONFIGS: BuildConfigName[] = ["defconfig", "instrumented", "clang-defconfig"];

/** A stand-in build that records how many ran at once and with how many make jobs. */
function recorder() {
  let running = 0;
  const seen = { most: 0, jobs: [] as (number | undefined)[] };
  const build = async (config: BuildConfigName, limits: Partial<KbuildLimits>) => {
    running++;
    seen.most = Math.max(seen.most, running);
    seen.jobs.push(limits.jobs);
    // The first configuration is the slowest: results must still come back in order.
    await new Promise((r) => setTimeout(r, config === "defconfig" ? 30 : 5));
    running--;
    return { config } as HypBuildResult;
  };
  return { build, seen };
}

describe("sideBySide", () => {
  it("builds one configuration at a time with the build's own jobs by default", async () => {
    const { build, seen } = recorder();
    const results = await sideBySide(CONFIGS, 1, build, { jobs: 2 });
    expect(results.map((r) => r.config)).toEqual(CONFIGS);
    expect(seen).toEqual({ most: 1, jobs: [2, 2, 2] });
  });

  it("builds up to N at once, sharing the jobs between them, results in order", async () => {
    const { build, seen } = recorder();
    const results = await sideBySide(CONFIGS, 2, build, { jobs: 2, timeoutMs: 1000 });
    expect(results.map((r) => r.config)).toEqual(CONFIGS);
    expect(seen).toEqual({ most: 2, jobs: [1, 1, 1] });
  });

  it("never asks for fewer than one job", async () => {
    const { build, seen } = recorder();
    await sideBySide(CONFIGS, 8, build, {});
    expect(seen.most).toBe(3);
    expect(seen.jobs).toEqual([1, 1, 1]);
  });
});
