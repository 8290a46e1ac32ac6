import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { corpusPath } from "./corpus.js";

/** A corpus thread's `.eml` files, in name order, with their bytes. */
export async function threadMessages(thread: string): Promise<{ name: string; raw: Buffer }[]> {
  const dir = corpusPath("threads", thread);
  const names = (await readdir(dir)).filter((name) => name.endsWith(".eml")).sort();
  return Promise.all(
    names.map(async (name) => ({ name, raw: await readFile(path.join(dir, name)) })),
  );
}

async function git(gitDir: string, args: string[], input?: Buffer | string): Promise<string> {
  const result = await execa("git", [`--git-dir=${gitDir}`, ...args], {
    input,
    env: {
      GIT_AUTHOR_NAME: "archive",
      GIT_AUTHOR_EMAIL: "archive@hypwatch.invalid",
      GIT_COMMITTER_NAME: "archive",
      GIT_COMMITTER_EMAIL: "archive@hypwatch.invalid",
    },
  });
  return result.stdout.trim();
}

/** One commit of a test epoch: a message added as `m`, a deletion (`d`), or neither. */
export type EpochEntry = { m: Buffer } | { d: Buffer } | { other: Buffer };

/**
 * A public-inbox v2 epoch made with real git, one commit per entry, as public-inbox writes
 * them. Returns the commit ids, oldest first.
 */
export async function makeEpoch(gitDir: string, entries: EpochEntry[]): Promise<string[]> {
  await mkdir(gitDir, { recursive: true });
  await git(gitDir, ["init", "--quiet", "--bare", "--initial-branch=master"]);
  const commits: string[] = [];
  for (const entry of entries) {
    const [file, bytes] =
      "m" in entry ? ["m", entry.m] : "d" in entry ? ["d", entry.d] : ["other", entry.other];
    const blob = await git(gitDir, ["hash-object", "-w", "--stdin"], bytes);
    const tree = await git(gitDir, ["mktree"], `100644 blob ${blob}\t${file}\n`);
    const parent = commits.at(-1);
    const commit = await git(gitDir, [
      "commit-tree",
      tree,
      ...(parent ? ["-p", parent] : []),
      "-m",
      file,
    ]);
    commits.push(commit);
  }
  const head = commits.at(-1);
  if (head) await git(gitDir, ["update-ref", "refs/heads/master", head]);
  return commits;
}

/**
 * `git rev-list --reverse master` of the corpus archive, worked out independently of the
 * code under test: the archive lacks `refs/`, so git reads it through a borrowing repo.
 */
export async function corpusRevList(): Promise<string[]> {
  const archive = corpusPath("kvmarm-0.git");
  const shim = await mkdtemp(path.join(tmpdir(), "hypwatch-test-revlist-"));
  try {
    await mkdir(path.join(shim, "refs"));
    await mkdir(path.join(shim, "objects", "info"), { recursive: true });
    await copyFile(path.join(archive, "HEAD"), path.join(shim, "HEAD"));
    await copyFile(path.join(archive, "packed-refs"), path.join(shim, "packed-refs"));
    await writeFile(path.join(shim, "objects", "info", "alternates"), `${archive}/objects\n`);
    const result = await execa("git", [`--git-dir=${shim}`, "rev-list", "--reverse", "master"]);
    return result.stdout.split("\n").filter(Boolean);
  } finally {
    await rm(shim, { recursive: true, force: true });
  }
}
