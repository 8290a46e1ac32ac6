import { mkdir } from "node:fs/promises";
import path from "node:path";
import { redact } from "../log.js";
import { run, type ExecResult } from "./exec.js";
import { HypwatchError } from "../errors.js";

/** A mirror of a remote repository that could not be made or updated; never carries credentials. */
export class GitMirrorError extends HypwatchError {
  // A remote that is down, a lock or a killed git: the next poll may succeed.
  readonly kind = "upstream";
  readonly remote: string;
  readonly reason: string;
  constructor(remote: string, reason: string) {
    super(redact(`${remote}: ${reason}`));
    this.remote = redact(remote);
    this.reason = redact(reason);
  }
}

function gitEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return { ...env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" };
}

async function git(args: string[], timeoutMs: number, cwd?: string): Promise<ExecResult> {
  return run("git", args, { cwd, env: gitEnv(), timeoutMs });
}

function failure(result: ExecResult): string {
  const lines = result.stderr.trim().split("\n").filter(Boolean);
  const last = lines.at(-1) ?? `exit code ${result.exitCode}`;
  return result.timedOut ? "timed out" : last;
}

/**
 * True when `remote` answers as a git repository (`git ls-remote`): how a new epoch of a
 * remote inbox is found, since lore lists none.
 */
export async function remoteRepositoryExists(remote: string, timeoutMs = 60_000): Promise<boolean> {
  const result = await git(["ls-remote", "--heads", remote], timeoutMs);
  return result.exitCode === 0;
}

/**
 * Bring the bare mirror `dest` of `remote` up to date: `git clone --mirror` the first time,
 * `git fetch --prune` after (a mirror's refspec forces updates, so a rewritten history is
 * taken as it is). Old objects stay until git's own gc prunes them.
 */
export async function updateMirror(
  remote: string,
  dest: string,
  exists: boolean,
  timeoutMs = 30 * 60_000,
): Promise<void> {
  let result: ExecResult;
  if (exists) {
    result = await git(
      ["-c", `safe.directory=${dest}`, `--git-dir=${dest}`, "fetch", "--prune", "--quiet"],
      timeoutMs,
    );
  } else {
    await mkdir(path.dirname(dest), { recursive: true });
    result = await git(["clone", "--mirror", "--quiet", remote, dest], timeoutMs);
  }
  if (result.exitCode !== 0) {
    throw new GitMirrorError(
      remote,
      `git ${exists ? "fetch" : "clone"} failed: ${failure(result)}`,
    );
  }
}

async function gitDirOut(gitDir: string, args: string[]): Promise<ExecResult> {
  return git(["-c", `safe.directory=${gitDir}`, `--git-dir=${gitDir}`, ...args], 10 * 60_000);
}

/** The best common ancestor of two commits, or null when they share none. */
export async function mergeBase(gitDir: string, a: string, b: string): Promise<string | null> {
  const result = await gitDirOut(gitDir, ["merge-base", a, b]);
  return result.exitCode === 0 ? result.stdout.trim() || null : null;
}

/** The first-parent chain after `since` up to `rev`, oldest first. */
export async function firstParentChain(
  gitDir: string,
  rev: string,
  since?: string,
): Promise<string[]> {
  const range = since ? `${since}..${rev}` : rev;
  const result = await gitDirOut(gitDir, ["rev-list", "--first-parent", "--reverse", range, "--"]);
  if (result.exitCode !== 0) {
    throw new GitMirrorError(gitDir, `git rev-list failed: ${failure(result)}`);
  }
  return result.stdout.split("\n").filter(Boolean);
}

/** Commits on the first-parent chain up to and including `rev`. */
export async function chainLength(gitDir: string, rev: string): Promise<number> {
  const result = await gitDirOut(gitDir, ["rev-list", "--first-parent", "--count", rev, "--"]);
  if (result.exitCode !== 0) {
    throw new GitMirrorError(gitDir, `git rev-list failed: ${failure(result)}`);
  }
  return Number(result.stdout.trim());
}

/**
 * The blob ids of the file `file` as the commits after `since` up to `rev` wrote it: what a
 * range of a public-inbox epoch delivered (each commit writes its message as `m`).
 */
export async function blobsWritten(
  gitDir: string,
  rev: string,
  since: string | null,
  file: string,
): Promise<Set<string>> {
  const range = since ? `${since}..${rev}` : rev;
  const result = await gitDirOut(gitDir, [
    "log",
    "--format=",
    "--raw",
    "--no-abbrev",
    "--no-renames",
    range,
    "--",
    file,
  ]);
  if (result.exitCode !== 0) throw new GitMirrorError(gitDir, `git log failed: ${failure(result)}`);
  const blobs = new Set<string>();
  for (const line of result.stdout.split("\n")) {
    // :100644 100644 <old> <new> M\tm
    const match = /^:\d+ \d+ [0-9a-f]+ ([0-9a-f]+) [AM]\t/.exec(line);
    if (match?.[1]) blobs.add(match[1]);
  }
  return blobs;
}
