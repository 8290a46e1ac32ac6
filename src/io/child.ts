import { fork, type Serializable } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { errorKind, type ErrorKind } from "../errors.js";

/** An error thrown in the child, as it crosses the process boundary, its kind with it. */
export interface ChildError {
  name: string;
  message: string;
  stack?: string;
  kind: ErrorKind;
}

/** How a module run in a child process ended. */
export type ChildOutcome =
  | { kind: "returned"; value: unknown }
  | { kind: "threw"; error: ChildError }
  /** It ran over `timeoutMs` and was killed. */
  | { kind: "timed-out" }
  /** `signal` aborted and it was killed. */
  | { kind: "aborted" }
  /** It exited without a word: out of memory, killed from outside, a native crash. */
  | { kind: "crashed"; exitCode: number | null; signal: string | null; stderrTail: string };

/** What the child sends back on its IPC channel, once. */
export type ChildReply =
  { kind: "returned"; value: unknown } | { kind: "threw"; error: ChildError };

export interface ChildRequest {
  /** The module run in the child (a file URL); it answers one message with one `ChildReply`. */
  entry: string;
  message: Serializable;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** The last bytes of the child's stderr kept for a crash report: a V8 OOM report fits. */
const STDERR_TAIL_BYTES = 8 * 1024;

/**
 * Run `entry` in a child process of its own process group, hand it `message` and wait for
 * its one reply. A synchronous loop, a blocked read or a runaway build in the child cannot
 * stop the caller: past `timeoutMs`, or when `signal` aborts, the whole group is killed
 * (the child and the git, make and compilers it started).
 */
export function runInChild(request: ChildRequest): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    const child = fork(fileURLToPath(request.entry), [], {
      execArgv: loaderArgs(request.entry),
      // Its own group, so one kill reaches every process the job started.
      detached: true,
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      serialization: "advanced",
    });
    let stderrTail = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString("utf8")).slice(-STDERR_TAIL_BYTES);
    });
    let settled = false;
    const settle = (outcome: ChildOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.signal?.removeEventListener("abort", onAbort);
      killGroup(child.pid);
      resolve(outcome);
    };
    const timer = setTimeout(() => settle({ kind: "timed-out" }), request.timeoutMs);
    const onAbort = () => settle({ kind: "aborted" });
    if (request.signal?.aborted) return settle({ kind: "aborted" });
    request.signal?.addEventListener("abort", onAbort, { once: true });
    child.on("message", (reply: ChildReply) => settle(reply));
    child.on("error", (error) =>
      settle({
        kind: "threw",
        error: { name: error.name, message: error.message, kind: errorKind(error) },
      }),
    );
    child.on("exit", (exitCode, signal) =>
      // A reply may still be in flight when `exit` comes; let it land first.
      setImmediate(() => settle({ kind: "crashed", exitCode, signal, stderrTail })),
    );
    child.send(request.message);
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // The group is gone already: the child exited and took nothing with it.
  }
}

/**
 * Run from source (tests, `tsx`), the child needs tsx's loader to import `.ts`; built
 * (`dist/`), it needs nothing. The caller's own flags are not passed on: vitest's are not
 * meant for a plain node process.
 */
function loaderArgs(entry: string): string[] {
  if (!entry.endsWith(".ts")) return [];
  const tsx = createRequire(import.meta.url).resolve("tsx");
  return ["--import", pathToFileURL(tsx).href];
}
