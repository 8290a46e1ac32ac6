import { access, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../io/exec.js";
import { gitOk } from "../io/git.js";
import { smallRepo } from "../../test/git-fixtures.js";
import {
  DEBIAN_LINUX_SOURCE,
  dropDebianGitignoreBlock,
  ensureTree,
  prepareDebianLinuxSource,
  type TreeProgress,
} from "./tree.js";
import { ExtractError } from "../io/tar.js";
import { TreeError } from "./types.js";

const tmp: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "hypwatch-tree-"));
  tmp.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(tmp.map((d) => rm(d, { recursive: true, force: true })));
});

describe("ensureTree", () => {
  it("takes a local repository as it is", async () => {
    const repo = await smallRepo({ Makefile: "all:\n" });
    tmp.push(repo);
    expect(await ensureTree({ tree: repo })).toBe(repo);
  });

  it("rejects a directory that is not a repository, naming it", async () => {
    const dir = await tempDir();
    await expect(ensureTree({ tree: dir })).rejects.toThrow(TreeError);
    await expect(ensureTree({ tree: dir })).rejects.toThrow(dir);
    await expect(ensureTree({ tree: path.join(dir, "nope") })).rejects.toThrow(/no such directory/);
    const repo = await smallRepo({ "sub/Makefile": "all:\n" });
    tmp.push(repo);
    await expect(ensureTree({ tree: path.join(repo, "sub") })).rejects.toThrow(
      /not a git repository/,
    );
  });

  it("clones a URL once into the cache, even when asked twice at once", async () => {
    const upstream = await smallRepo({ Makefile: "all:\n" });
    tmp.push(upstream);
    const cacheDir = await tempDir();
    const url = `file://${upstream}`;
    const [a, b] = await Promise.all([
      ensureTree({ tree: url, cacheDir }),
      ensureTree({ tree: url, cacheDir }),
    ]);
    expect(a).toBe(b);
    expect(path.dirname(a)).toBe(path.join(cacheDir, "trees"));
    const head = (await gitOk(upstream, ["rev-parse", "HEAD"])).trim();
    expect((await gitOk(a, ["rev-parse", "HEAD"])).trim()).toBe(head);
    const entries = (await readdir(path.join(cacheDir, "trees"))).filter(
      (n) => !n.endsWith(".lock"),
    );
    expect(entries).toEqual([path.basename(a)]);
    // A later call reuses the clone: a commit made upstream meanwhile is not fetched.
    await writeFile(path.join(upstream, "Makefile"), "all:\n\ttrue\n");
    await gitOk(upstream, ["commit", "-qam", "later"]);
    expect(await ensureTree({ tree: url, cacheDir })).toBe(a);
    expect((await gitOk(a, ["rev-parse", "HEAD"])).trim()).toBe(head);
  });

  it("says it is cloning a URL the first time only, without the URL's credentials", async () => {
    const upstream = await smallRepo({ Makefile: "all:\n" });
    tmp.push(upstream);
    const cacheDir = await tempDir();
    const events: TreeProgress[] = [];
    const tree = `file://${upstream}`;
    await ensureTree({ tree, cacheDir, onProgress: (e) => events.push(e) });
    await ensureTree({ tree, cacheDir, onProgress: (e) => events.push(e) });
    expect(events).toEqual([{ phase: "cloning", url: tree }]);
    events.length = 0;
    const secret = "http://hypwatch:s3cret-token@127.0.0.1:9/linux.git";
    await expect(
      ensureTree({ tree: secret, cacheDir, onProgress: (e) => events.push(e) }),
    ).rejects.toThrow(TreeError);
    expect(events).toHaveLength(1);
    expect(JSON.stringify(events)).not.toContain("s3cret-token");
  });

  it("reports a clone that fails as a TreeError", async () => {
    const cacheDir = await tempDir();
    await expect(ensureTree({ tree: "file:///nonexistent/linux.git", cacheDir })).rejects.toThrow(
      TreeError,
    );
  });
});

describe("prepareDebianLinuxSource", () => {
  let tarball = "";
  let realGitignore = "";

  beforeAll(async () => {
    // The real .gitignore of Debian's tarball, in a small tarball of the same shape.
    const shown = await run("tar", ["-xJOf", DEBIAN_LINUX_SOURCE, "linux-source-6.1/.gitignore"]);
    expect(shown.exitCode).toBe(0);
    realGitignore = shown.stdout;
    const dir = await tempDir();
    const top = path.join(dir, "linux-source-9.9");
    await mkdir(path.join(top, "arch", "arm64", "kvm", "hyp", "nvhe"), { recursive: true });
    await writeFile(path.join(top, ".gitignore"), realGitignore);
    await writeFile(path.join(top, "Makefile"), "VERSION = 9\n");
    await writeFile(
      path.join(top, "arch", "arm64", "kvm", "hyp", "nvhe", "Makefile"),
      "obj-y :=\n",
    );
    tarball = path.join(dir, "linux-source-9.9.tar.xz");
    const made = await run("tar", ["-cJf", tarball, "-C", dir, "linux-source-9.9"]);
    expect(made.exitCode).toBe(0);
  });

  it("drops exactly Debian's ignore-everything block", () => {
    expect(realGitignore).toMatch(/# Debian packaging/);
    const dropped = dropDebianGitignoreBlock(realGitignore);
    expect(dropped).not.toMatch(/Debian packaging|^\/\*$/m);
    expect(dropped).toMatch(/rust-project\.json\n$/);
    expect(dropped.split("\n").length).toBeGreaterThan(realGitignore.split("\n").length - 10);
  });

  it("makes a git repository holding the whole tree, once, even when asked twice at once", async () => {
    const cacheDir = await tempDir();
    const [a, b] = await Promise.all([
      prepareDebianLinuxSource({ cacheDir, tarball }),
      prepareDebianLinuxSource({ cacheDir, tarball }),
    ]);
    expect(a).toBe(path.join(cacheDir, "trees", "linux-source-9.9"));
    expect(b).toBe(a);
    const files = (await gitOk(a, ["ls-files"])).trim().split("\n");
    expect(files).toEqual([".gitignore", "Makefile", "arch/arm64/kvm/hyp/nvhe/Makefile"]);
    expect(await gitOk(a, ["rev-list", "--count", "HEAD"])).toBe("1\n");
    expect(await gitOk(a, ["status", "--porcelain"])).toBe("");
    const head = await gitOk(a, ["rev-parse", "HEAD"]);
    expect(await prepareDebianLinuxSource({ cacheDir, tarball })).toBe(a);
    expect(await gitOk(a, ["rev-parse", "HEAD"])).toBe(head);
  });

  it("reports extracting, by bytes of the tarball read, then committing; nothing once made", async () => {
    const cacheDir = await tempDir();
    const events: TreeProgress[] = [];
    const onProgress = (e: TreeProgress) => events.push(e);
    await prepareDebianLinuxSource({ cacheDir, tarball, onProgress });
    const size = (await stat(tarball)).size;
    const extracting = events.filter((e) => e.phase === "extracting");
    expect(extracting.length).toBeGreaterThan(0);
    expect(extracting.every((e) => e.totalBytes === size && e.tarball === tarball)).toBe(true);
    expect(extracting.at(-1)?.bytesRead).toBe(size);
    expect(events.slice(extracting.length)).toEqual([{ phase: "committing", tarball }]);
    events.length = 0;
    await prepareDebianLinuxSource({ cacheDir, tarball, onProgress });
    expect(events).toEqual([]);
  });

  it("extracts any compression tar reads, and names a damaged tarball", async () => {
    const dir = await tempDir();
    const gz = path.join(dir, "linux-source-9.8.tar.gz");
    const src = path.join(dir, "src");
    await mkdir(path.join(src, "linux-source-9.8"), { recursive: true });
    await writeFile(path.join(src, "linux-source-9.8", "Makefile"), "VERSION = 9\n");
    expect((await run("tar", ["-czf", gz, "-C", src, "linux-source-9.8"])).exitCode).toBe(0);
    const cacheDir = await tempDir();
    const repo = await prepareDebianLinuxSource({ cacheDir, tarball: gz });
    expect(await gitOk(repo, ["ls-files"])).toBe("Makefile\n");
    const damaged = path.join(dir, "linux-source-9.7.tar.xz");
    await writeFile(damaged, (await readFile(tarball)).subarray(0, 100));
    await expect(prepareDebianLinuxSource({ cacheDir, tarball: damaged })).rejects.toThrow(
      ExtractError,
    );
  });

  it("resumes after a crash: leftovers are removed and a half-made tree is redone", async () => {
    const cacheDir = await tempDir();
    const trees = path.join(cacheDir, "trees");
    await mkdir(path.join(trees, "linux-source-9.9.tmp-abc123", "linux-source-9.9"), {
      recursive: true,
    });
    await mkdir(path.join(trees, "linux-source-9.9"), { recursive: true });
    await writeFile(path.join(trees, "linux-source-9.9", "Makefile"), "half\n");
    const repo = await prepareDebianLinuxSource({ cacheDir, tarball });
    expect(await readFile(path.join(repo, "Makefile"), "utf8")).toBe("VERSION = 9\n");
    expect(await gitOk(repo, ["ls-files", "Makefile"])).toBe("Makefile\n");
    expect((await readdir(trees)).sort()).toEqual(["linux-source-9.9", "linux-source-9.9.lock"]);
    await expect(access(path.join(trees, "linux-source-9.9.tmp-abc123"))).rejects.toThrow();
  });
});
