import { redact } from "../log.js";
import { run, type ExecResult } from "./exec.js";
import { HypwatchError } from "../errors.js";

/** Identity used for the commits `git am` makes in check worktrees (never pushed anywhere). */
const IDENTITY = [
  "-c",
  "user.name=hypwatch",
  "-c",
  "user.email=hypwatch@localhost",
  "-c",
  "advice.detachedHead=false",
  "-c",
  "core.quotePath=false",
];

/** A git command that failed where failure was not expected. Output is for logs only. */
export class GitError extends HypwatchError {
  // Where git was expected to succeed, a failure is a lock, a busy repository or a killed git.
  readonly kind = "transient";
  constructor(
    readonly args: string[],
    readonly result: ExecResult,
  ) {
    super(`git ${args.join(" ")} failed with exit code ${result.exitCode}`);
  }
}

export interface GitOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** Run git in `cwd`; never throws for a non-zero exit. */
export function git(cwd: string, args: string[], opts: GitOptions = {}): Promise<ExecResult> {
  return run("git", [...IDENTITY, ...args], {
    cwd,
    input: opts.input,
    timeoutMs: opts.timeoutMs,
    env: { ...stringEnv(process.env), GIT_TERMINAL_PROMPT: "0", LC_ALL: "C", ...opts.env },
  });
}

/** Run git in `cwd` and return its stdout; throws GitError on a non-zero exit. */
export async function gitOk(cwd: string, args: string[], opts: GitOptions = {}): Promise<string> {
  const result = await git(cwd, args, opts);
  if (result.exitCode !== 0) throw new GitError(args, result);
  return result.stdout;
}

/** The full commit id `rev` names in the repository at `cwd`, or null when there is none. */
export async function resolveCommit(cwd: string, rev: string): Promise<string | null> {
  const result = await git(cwd, ["rev-parse", "--verify", "--quiet", `${rev}^{commit}`]);
  return result.exitCode === 0 ? result.stdout.trim() : null;
}

/** True when `dir` is the top of a git work tree or is a bare repository (not a subfolder). */
export async function isGitRepo(dir: string): Promise<boolean> {
  const result = await git(dir, ["rev-parse", "--is-bare-repository", "--show-cdup"]);
  if (result.exitCode !== 0) return false;
  const [bare, cdup] = result.stdout.split("\n");
  return bare === "true" || cdup === "";
}

export async function clone(url: string, dest: string, timeoutMs?: number): Promise<void> {
  const args = ["clone", "--bare", url, dest];
  const result = await run("git", args, {
    timeoutMs,
    env: { ...stringEnv(process.env), GIT_TERMINAL_PROMPT: "0" },
  });
  // The URL may carry a token (`https://user:token@host`): the error keeps it out.
  if (result.exitCode !== 0) throw new GitError(args.map(redact), redactResult(result));
}

/**
 * Fetch every branch and tag of `url` into the bare repository `repo` (made by `clone`),
 * moving them as upstream moved them (a rebased `next` included).
 */
export async function fetchAll(repo: string, url: string, timeoutMs?: number): Promise<void> {
  const args = ["fetch", "--prune", url, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];
  const result = await run("git", args, {
    cwd: repo,
    timeoutMs,
    env: { ...stringEnv(process.env), GIT_TERMINAL_PROMPT: "0" },
  });
  if (result.exitCode !== 0) throw new GitError(args.map(redact), redactResult(result));
}

function redactResult(result: ExecResult): ExecResult {
  return { ...result, command: redact(result.command), stderr: redact(result.stderr) };
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}
