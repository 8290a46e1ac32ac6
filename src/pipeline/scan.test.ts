import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { configSchema } from "../config.js";
import { corpusPath } from "../../test/corpus.js";
import { scanSource } from "./scan.js";

const config = configSchema.parse({});
const scs = corpusPath("threads", "scs-v7", "scs-v7-thread.mbox");

describe("scanSource", () => {
  it("finds the Shadow Call Stack v7 series, its real author and its one KVM patch", async () => {
    const result = await scanSource(scs, config, { workers: 0 });
    expect(result.messages).toBe(30);
    expect(result.errors).toEqual([]);
    expect(result.series).toHaveLength(1);
    const [series] = result.series;
    expect(series).toMatchObject({
      version: 7,
      total: 11,
      complete: true,
      relevant: true,
      author: { name: "Sami Tolvanen", email: "samitolvanen@google.com" },
      coverMessageId: "20200128184934.77625-1-samitolvanen@google.com",
    });
    expect(series?.patches.map((p) => p.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(series?.patches.filter((p) => p.relevant).map((p) => p.index)).toEqual([9]);
  });

  it("gives the same series with parsing threads as without", async () => {
    const inline = await scanSource(scs, config, { workers: 0 });
    const threaded = await scanSource(scs, config, { workers: 2 });
    expect(threaded.series).toEqual(inline.series);
  });

  it("reads every fuzzer-corrupted Patchwork message without crashing", async () => {
    const dir = corpusPath("patchwork", "fuzz");
    for (const name of await readdir(dir)) {
      const result = await scanSource(path.join(dir, name), config, { workers: 0 });
      expect(result.messages, name).toBeGreaterThan(0);
      for (const error of result.errors) expect(error.message).toContain(name);
    }
  });
});

describe("hypwatch scan", () => {
  it("prints the documented JSON shape", async () => {
    const { stdout } = await promisify(execFile)(
      "npx",
      ["tsx", "src/cli/main.ts", "scan", scs, "--json"],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    const out = JSON.parse(stdout) as { summary: { series: number }; series: unknown[] };
    expect(out.summary.series).toBe(1);
    expect(out.series[0]).toHaveProperty("patches");
  });
});
