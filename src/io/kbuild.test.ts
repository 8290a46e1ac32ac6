import { describe, expect, it } from "vitest";
import { ccacheCounts, kbuildArgs, DEFAULT_LIMITS } from "./kbuild.js";

const inv = { srcDir: "/src", buildDir: "/build", limits: DEFAULT_LIMITS };

describe("kbuildArgs", () => {
  it("puts ccache in front of the configuration's compiler when a cache is given", () => {
    const cache = { dir: "/cache", writable: false };
    expect(kbuildArgs({ ...inv, cache }, ["t"])).toContain("CC=ccache aarch64-linux-gnu-gcc");
    expect(kbuildArgs({ ...inv, cc: "clang", cache }, ["t"])).toContain("CC=ccache clang");
    expect(kbuildArgs({ ...inv, cc: "clang" }, ["t"])).toContain("CC=clang");
    expect(kbuildArgs(inv, ["t"]).filter((a) => a.startsWith("CC="))).toEqual([]);
  });
});

describe("ccacheCounts", () => {
  it("counts the compiles of a ccache log answered from the cache and those compiled", () => {
    // ccache 4.7's log (CCACHE_LOGFILE) of a miss, a direct hit, a preprocessed hit and a
    // call that compiles nothing.
    const log = [
      "[2026-12-02T08:00:32.210425 13928] Result: cache_miss",
      "[2026-12-02T08:00:32.210429 13928] Result: direct_cache_miss",
      "[2026-12-02T08:00:32.210455 13928] Result: preprocessed_cache_miss",
      "[2026-12-02T08:00:32.234452 13934] Result: direct_cache_hit",
      "[2026-12-02T08:00:32.234466 13934] Result: local_storage_hit",
      "[2026-12-02T08:00:32.234470 13934] Result: local_storage_read_hit",
      "[2026-12-02T07:46:53.766678 18216] Result: direct_cache_miss",
      "[2026-12-02T07:46:53.766680 18216] Result: local_storage_hit",
      "[2026-12-02T07:46:53.766685 18216] Result: preprocessed_cache_hit",
      "[2026-12-02T08:00:32.585318 13942] Result: no_input_file",
    ].join("\n");
    expect(ccacheCounts(log)).toEqual({ hits: 2, misses: 1 });
    expect(ccacheCounts("")).toEqual({ hits: 0, misses: 0 });
  });
});
