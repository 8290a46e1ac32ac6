import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { gitOk } from "../io/git.js";
import { BaseCache, type BaseRecord } from "./base-cache.js";

const record: BaseRecord = {
  era: "modern",
  findings: [],
  aliases: [{ name: "kvm_host_data", target: "kvm_host_data" }],
  inputs: ["arch/arm64/kvm/hyp/nvhe/switch.c", "arch/arm64/include/asm/kvm_host.h"],
};

async function setup(): Promise<{ repo: string; cacheDir: string }> {
  const root = await mkdtemp(path.join(os.tmpdir(), "hypwatch-base-cache-"));
  const repo = path.join(root, "repo");
  await gitOk(root, ["init", "-q", repo]);
  return { repo, cacheDir: path.join(root, "cache") };
}

describe("BaseCache", () => {
  it("gives back a record for the same commit and configuration only", async () => {
    const { repo, cacheDir } = await setup();
    const cache = await BaseCache.forTree(repo, cacheDir);
    const commit = "a".repeat(40);
    expect(await cache.get(commit, "defconfig")).toBeNull();
    await cache.put(commit, "defconfig", record);
    expect(await cache.get(commit, "defconfig")).toEqual(record);
    expect(await cache.get(commit, "instrumented")).toBeNull();
    expect(await cache.get("b".repeat(40), "defconfig")).toBeNull();
    // Another handle on the same tree (another worker) sees it too.
    expect(await (await BaseCache.forTree(repo, cacheDir)).get(commit, "defconfig")).toEqual(
      record,
    );
  });

  it("treats a damaged record as missing", async () => {
    const { repo, cacheDir } = await setup();
    const cache = await BaseCache.forTree(repo, cacheDir);
    const commit = "c".repeat(40);
    await cache.put(commit, "defconfig", record);
    const dir = (await readdir(cacheDir, { recursive: true })).find((f) => f.endsWith(".json"));
    await writeFile(path.join(cacheDir, dir!), '{"era": "modern", "findi');
    expect(await cache.get(commit, "defconfig")).toBeNull();
    await writeFile(path.join(cacheDir, dir!), '{"era": "future", "findings": [], "aliases": []}');
    expect(await cache.get(commit, "defconfig")).toBeNull();
  });
});
