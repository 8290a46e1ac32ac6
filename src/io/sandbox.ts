import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";

/** Limits and mounts of one sandboxed command. */
export interface SandboxOptions {
  /** Working directory inside the sandbox (paths are the same inside and outside). */
  cwd: string;
  /** The only host paths the command may write to. Everything else is read-only. */
  writable: string[];
  /**
   * Paths that must stay visible read-only even below /tmp (which is private inside); the
   * rest of the filesystem is visible read-only anyway.
   */
  readable?: string[];
  /** Wall-time limit; the whole sandbox (every process in it) is killed when it runs over. */
  timeoutMs: number;
  /** Address-space limit per process, in bytes (prlimit --as). */
  memoryBytes: number;
  /** Largest file the command may write, in bytes (prlimit --fsize). */
  maxFileBytes?: number;
  /** Environment inside; nothing else of ours is passed in. */
  env?: Record<string, string>;
  /** stdout and stderr, interleaved, are written here. */
  logPath: string;
}

export interface SandboxResult {
  exitCode: number;
  /** Killed for running over `timeoutMs`. */
  timedOut: boolean;
  durationMs: number;
  logPath: string;
}

const DEFAULT_ENV: Record<string, string> = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/tmp",
  LANG: "C.UTF-8",
  LC_ALL: "C",
  TERM: "dumb",
};

/**
 * The bubblewrap command line for `file args` under `opts`: the host's filesystem read-only,
 * `opts.writable` bound read-write, a private /tmp, /dev and /proc, no network (a fresh
 * network namespace has only a down loopback), its own pid namespace so that killing
 * bubblewrap kills every process of the build, a new session (no terminal injection), and
 * death when the parent dies.
 */
export function sandboxCommand(
  file: string,
  args: string[],
  opts: Omit<SandboxOptions, "logPath">,
): { file: string; args: string[] } {
  const limits = [`--as=${opts.memoryBytes}`];
  if (opts.maxFileBytes !== undefined) limits.push(`--fsize=${opts.maxFileBytes}`);
  const env = { ...DEFAULT_ENV, ...opts.env };
  const bwrap = [
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
    "--tmpfs",
    "/tmp",
    ...(opts.readable ?? []).flatMap((p) => ["--ro-bind", p, p]),
    ...opts.writable.flatMap((p) => ["--bind", p, p]),
    "--unshare-net",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--new-session",
    "--die-with-parent",
    "--clearenv",
    ...Object.entries(env).flatMap(([k, v]) => ["--setenv", k, v]),
    "--chdir",
    opts.cwd,
    "--",
    file,
    ...args,
  ];
  return { file: "prlimit", args: [...limits, "--", "bwrap", ...bwrap] };
}

/** Run `file args` in the sandbox to completion. Never throws for a failing command. */
export async function runSandboxed(
  file: string,
  args: string[],
  opts: SandboxOptions,
): Promise<SandboxResult> {
  await mkdir(path.dirname(opts.logPath), { recursive: true });
  const log = createWriteStream(opts.logPath, { flags: "a" });
  const cmd = sandboxCommand(file, args, opts);
  const started = performance.now();
  const child = execa(cmd.file, cmd.args, {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    buffer: false,
    reject: false,
    timeout: opts.timeoutMs,
    killSignal: "SIGKILL",
    cleanup: true,
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const result = await child;
  const durationMs = Math.round(performance.now() - started);
  if (result.timedOut) log.write(`\n[hypwatch] killed after ${opts.timeoutMs} ms\n`);
  await new Promise<void>((resolve) => log.end(resolve));
  return {
    exitCode: result.exitCode ?? -1,
    timedOut: result.timedOut === true,
    durationMs,
    logPath: opts.logPath,
  };
}
