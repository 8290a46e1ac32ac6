import { mkdir } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { HypwatchError } from "../errors.js";

/** An exclusive lock held on a file until released (or until this process dies). */
export interface FileLock {
  readonly path: string;
  release(): Promise<void>;
}

export interface LockOptions {
  /** Wait for the lock (default); false returns null at once when it is held elsewhere. */
  wait?: boolean;
  /** With `wait`, give up after this many milliseconds (LockTimeoutError). */
  timeoutMs?: number;
}

export class LockTimeoutError extends HypwatchError {
  readonly kind = "transient";
  constructor(readonly lockPath: string) {
    super(`timed out waiting for lock ${lockPath}`);
  }
}

/**
 * Take an flock(2) lock on `lockPath`. The lock is held by a small `flock` child whose
 * stdin is a pipe from this process: the kernel drops the lock when that child exits, and
 * it exits when we release or when this process dies, so a crash never leaves a stale lock.
 * Shell scripts can take the same lock with `flock <path> ...`.
 */
export async function lockFile(lockPath: string, opts: LockOptions = {}): Promise<FileLock | null> {
  await mkdir(path.dirname(lockPath), { recursive: true });
  const wait = opts.wait ?? true;
  const mode = wait
    ? opts.timeoutMs !== undefined
      ? ["-w", String(Math.max(opts.timeoutMs, 1) / 1000)]
      : []
    : ["-n"];
  const child = execa("flock", [...mode, "-x", lockPath, "sh", "-c", "echo locked; exec cat"], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "ignore",
    reject: false,
    cleanup: true,
  });
  const acquired = await new Promise<boolean>((resolve) => {
    let seen = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes("locked")) resolve(true);
    });
    void child.then(() => resolve(false));
  });
  if (!acquired) {
    if (wait) throw new LockTimeoutError(lockPath);
    return null;
  }
  let released = false;
  return {
    path: lockPath,
    async release() {
      if (released) return;
      released = true;
      child.stdin?.end();
      await child;
    },
  };
}

/** Run `fn` while holding the lock on `lockPath`. */
export async function withLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  opts: Omit<LockOptions, "wait"> = {},
): Promise<T> {
  const lock = await lockFile(lockPath, { ...opts, wait: true });
  if (!lock) throw new LockTimeoutError(lockPath);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
