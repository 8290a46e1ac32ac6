import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { smallRepo } from "../../test/git-fixtures.js";
import { clone, gitOk, resolveCommit } from "../io/git.js";
import { refreshTree } from "./refresh.js";

describe("refreshing a cloned tree (real git)", () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it("fetches moved branches at most once per interval, and leaves local trees alone", async () => {
    const upstream = await smallRepo({ README: "one\n" });
    dirs.push(upstream);
    const url = pathToFileURL(upstream).href;
    const work = await mkdtemp(path.join(tmpdir(), "hypwatch-refresh-"));
    dirs.push(work);
    const repo = path.join(work, "tree.git");
    await clone(url, repo);
    const branch = (await gitOk(upstream, ["symbolic-ref", "--short", "HEAD"])).trim();

    await gitOk(upstream, ["commit", "--allow-empty", "-qm", "two"]);
    const moved = await resolveCommit(upstream, "HEAD");
    let now = 1_000_000_000_000;
    const opts = { intervalMs: 60_000, now: () => now };
    expect(await refreshTree(repo, url, opts)).toBe(true);
    expect(await resolveCommit(repo, branch)).toBe(moved);

    await gitOk(upstream, ["commit", "--allow-empty", "-qm", "three"]);
    now += 30_000;
    expect(await refreshTree(repo, url, opts)).toBe(false);
    expect(await resolveCommit(repo, branch)).toBe(moved);
    now += 31_000;
    expect(await refreshTree(repo, url, opts)).toBe(true);
    expect(await resolveCommit(repo, branch)).toBe(await resolveCommit(upstream, "HEAD"));

    expect(await refreshTree(repo, upstream, opts)).toBe(false);
  });

  it("says a failed fetch is upstream's failure, without the URL's credentials", async () => {
    const work = await mkdtemp(path.join(tmpdir(), "hypwatch-refresh-"));
    dirs.push(work);
    const repo = path.join(work, "tree.git");
    await gitOk(work, ["init", "-q", "--bare", repo]);
    const error = await refreshTree(repo, "file:///nonexistent/linux.git", {
      intervalMs: 1,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "upstream" });
    expect(String(error)).toMatch(/fetch failed/);
  });
});
