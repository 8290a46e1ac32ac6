import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { clone, gitOk, isGitRepo, resolveCommit } from "../io/git.js";
import { withLock } from "../io/lock.js";
import { extractTarball } from "../io/tar.js";
import { errorMessage, redact } from "../log.js";
import { TreeError } from "./types.js";

/** Debian's kernel source package, used when no tree is configured. */
export const DEBIAN_LINUX_SOURCE = "/usr/src/linux-source-6.1.tar.xz";

/** The cache directory: `cacheDir`, else `$HYPWATCH_CACHE`, else `~/.cache/hypwatch`. */
export function cacheRoot(cacheDir?: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(cacheDir ?? env.HYPWATCH_CACHE ?? defaultCacheDir());
}

/**
 * `~/.cache/hypwatch`; for root, `/var/cache/hypwatch`: builds then run as an unprivileged
 * uid, which must be able to reach the worktrees and build directories, and root's home is
 * closed to other users.
 */
function defaultCacheDir(): string {
  if (process.geteuid?.() === 0) return "/var/cache/hypwatch";
  return path.join(os.homedir(), ".cache", "hypwatch");
}

/** True for things `git clone` takes that are not local paths. */
export function isRemoteUrl(tree: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(tree) || /^[\w.-]+@[\w.-]+:/.test(tree);
}

/**
 * Debian's tarball `.gitignore` ends with a block that ignores every top-level path (its
 * packaging repository keeps the source elsewhere). Drop that block, or `git add` would
 * commit nothing.
 */
export function dropDebianGitignoreBlock(text: string): string {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => /^# Debian packaging/.test(l));
  if (start < 0) return text;
  let cut = start;
  while (cut > 0 && lines[cut - 1] === "#") cut--;
  while (cut > 0 && lines[cut - 1] === "") cut--;
  return `${lines.slice(0, cut).join("\n")}\n`;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function hasCommit(repo: string): Promise<boolean> {
  return (await isGitRepo(repo)) && (await resolveCommit(repo, "HEAD")) !== null;
}

/** Remove temp directories a crashed run left beside `dest` (we hold the lock). */
async function removeLeftovers(dest: string): Promise<void> {
  const dir = path.dirname(dest);
  const prefix = `${path.basename(dest)}.tmp-`;
  for (const name of await readdir(dir)) {
    if (name.startsWith(prefix)) await rm(path.join(dir, name), { recursive: true, force: true });
  }
}

/**
 * What preparing a tree is doing, for a progress display (the CLI's): extracting the
 * tarball (bytes of the compressed file read so far, of its size), committing the extracted
 * source to git (`git add` and `git commit`, no counts), or cloning a URL (no counts).
 * Nothing is reported when the tree is already there.
 */
export type TreeProgress =
  | { phase: "extracting"; tarball: string; bytesRead: number; totalBytes: number }
  | { phase: "committing"; tarball: string }
  | { phase: "cloning"; url: string };

export interface PrepareOptions {
  cacheDir?: string;
  /** The kernel source tarball (default: Debian's linux-source-6.1). */
  tarball?: string;
  /** Told what the first run is doing (the later ones have nothing to do). */
  onProgress?: (event: TreeProgress) => void;
}

/**
 * Turn Debian's kernel source tarball into a git repository in the cache (extract, drop the
 * Debian `.gitignore` block, `git init`, commit) and return its path. Idempotent and safe to
 * run concurrently (a lock file serialises it), and resumable after a crash: the work happens
 * in a temp directory that is renamed into place only when the commit exists.
 */
export async function prepareDebianLinuxSource(opts: PrepareOptions = {}): Promise<string> {
  const tarball = opts.tarball ?? DEBIAN_LINUX_SOURCE;
  const name = path.basename(tarball).replace(/\.tar(\.\w+)?$/, "");
  const treesDir = path.join(cacheRoot(opts.cacheDir), "trees");
  const dest = path.join(treesDir, name);
  await mkdir(treesDir, { recursive: true });
  if (await hasCommit(dest)) return dest;
  return withLock(`${dest}.lock`, async () => {
    if (await hasCommit(dest)) return dest;
    await removeLeftovers(dest);
    if (await exists(dest)) await rm(dest, { recursive: true, force: true });
    if (!(await exists(tarball))) throw new TreeError(tarball, "kernel source tarball not found");
    const tmp = await mkdtemp(`${dest}.tmp-`);
    const onProgress = opts.onProgress;
    await extractTarball(tarball, tmp, {
      onProgress:
        onProgress &&
        ((bytesRead, totalBytes) =>
          onProgress({ phase: "extracting", tarball, bytesRead, totalBytes })),
    });
    const entries = await readdir(tmp);
    const top = entries.length === 1 && entries[0] ? path.join(tmp, entries[0]) : tmp;
    const gitignore = path.join(top, ".gitignore");
    if (await exists(gitignore)) {
      await writeFile(gitignore, dropDebianGitignoreBlock(await readFile(gitignore, "utf8")));
    }
    const mtime = (await stat(tarball)).mtime.toISOString();
    const env = { GIT_AUTHOR_DATE: mtime, GIT_COMMITTER_DATE: mtime };
    onProgress?.({ phase: "committing", tarball });
    await gitOk(top, ["init", "-q"]);
    // -f: the tarball is pristine source, and the kernel's `.*` rule would leave out every
    // tracked dot file (.gitignore, .mailmap, .clang-format) that patches may touch.
    await gitOk(top, ["add", "-A", "-f"], { timeoutMs: 30 * 60_000 });
    await gitOk(top, ["commit", "-q", "--no-gpg-sign", "-m", name], { env });
    await rename(top, dest);
    await rm(tmp, { recursive: true, force: true });
    return dest;
  });
}

export interface TreeConfig {
  /** A path to a git repository, or a URL cloned once into the cache. Unset: Debian's tree. */
  tree?: string;
  cacheDir?: string;
  /** Told what a first run is doing; see `TreeProgress`. */
  onProgress?: (event: TreeProgress) => void;
}

/**
 * The local git repository to check against: the configured path (verified to be a git
 * repository with a commit), a clone of the configured URL (made once, under a lock, into
 * `<cache>/trees/`), or the prepared Debian linux-source tree.
 */
export async function ensureTree(config: TreeConfig): Promise<string> {
  if (!config.tree)
    return prepareDebianLinuxSource({ cacheDir: config.cacheDir, onProgress: config.onProgress });
  if (!isRemoteUrl(config.tree)) {
    const repo = path.resolve(config.tree);
    if (!(await exists(repo))) throw new TreeError(config.tree, "no such directory");
    if (!(await isGitRepo(repo))) throw new TreeError(config.tree, "not a git repository");
    if (!(await hasCommit(repo))) throw new TreeError(config.tree, "repository has no commits");
    return repo;
  }
  const url = config.tree;
  const slug = url
    .replace(/\.git$/, "")
    .split(/[/:]/)
    .filter(Boolean)
    .slice(-1)[0];
  const hash = createHash("sha256").update(url).digest("hex").slice(0, 10);
  const treesDir = path.join(cacheRoot(config.cacheDir), "trees");
  const dest = path.join(treesDir, `${slug ?? "tree"}-${hash}.git`);
  await mkdir(treesDir, { recursive: true });
  if (await hasCommit(dest)) return dest;
  return withLock(`${dest}.lock`, async () => {
    if (await hasCommit(dest)) return dest;
    await removeLeftovers(dest);
    await rm(dest, { recursive: true, force: true });
    const tmp = await mkdtemp(`${dest}.tmp-`);
    config.onProgress?.({ phase: "cloning", url: redact(url) });
    try {
      await clone(url, path.join(tmp, "repo.git"), 6 * 3600_000);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw new TreeError(redact(url), `clone failed: ${errorMessage(err)}`, "upstream");
    }
    await rename(path.join(tmp, "repo.git"), dest);
    await rm(tmp, { recursive: true, force: true });
    return dest;
  });
}
