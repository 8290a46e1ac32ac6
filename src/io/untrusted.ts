import { constants } from "node:fs";
import { open, readdir, realpath, unlink } from "node:fs/promises";
import path from "node:path";
import { run } from "./exec.js";
import { HypwatchError } from "../errors.js";

/**
 * Reading what untrusted code wrote. A patch can make any worktree file a symlink (git
 * applies mode 120000), and a build can leave symlinks, FIFOs or sockets in its build
 * directory; hypwatch reads both as the user that started it, often root. Every read of
 * them goes through here: it stays inside the directory it was asked about, never blocks
 * on a FIFO, and is bounded in size.
 */

/** Thrown for a file that escapes its directory, is not a regular file, or is too big. */
export class UntrustedFileError extends HypwatchError {
  // The file is what the patch or the build made it.
  readonly kind = "permanent";
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

/** Largest file read by default (a `.cmd` file of linux 6.1 is at most a few hundred KB). */
export const MAX_UNTRUSTED_READ = 16 * 1024 ** 2;

/**
 * The text of `file`, which must resolve (symlinks followed) to a regular file inside
 * `root`, of at most `maxBytes`.
 */
export async function readContained(
  root: string,
  file: string,
  maxBytes = MAX_UNTRUSTED_READ,
): Promise<string> {
  const [realRoot, realFile] = await Promise.all([realpath(root), realpath(file)]);
  if (!realFile.startsWith(realRoot + path.sep))
    throw new UntrustedFileError(file, `resolves outside ${root}`);
  return readUntrustedFile(realFile, maxBytes);
}

/**
 * The text of `file` itself (not what a symlink points to), when it is a regular file of
 * at most `maxBytes`.
 */
export async function readUntrustedFile(
  file: string,
  maxBytes = MAX_UNTRUSTED_READ,
): Promise<string> {
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  const handle = await open(file, flags).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ELOOP") throw new UntrustedFileError(file, "is a symlink");
    throw error;
  });
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new UntrustedFileError(file, "is not a regular file");
    if (st.size > maxBytes)
      throw new UntrustedFileError(file, `is ${st.size} bytes, more than ${maxBytes}`);
    const buffer = Buffer.alloc(st.size);
    const { bytesRead } = await handle.read(buffer, 0, st.size, 0);
    return buffer.subarray(0, bytesRead).toString("utf8");
  } finally {
    await handle.close();
  }
}

/**
 * Remove everything under `dir` that is neither a regular file nor a directory (symlinks,
 * FIFOs, sockets, devices), without following any symlink. Run on a build directory once
 * every process of the build is gone, before hypwatch reads it: afterwards every path
 * below `dir` stays below it. Kbuild's own `source` link is recreated by the next build.
 * Returns how many entries were removed.
 */
export async function removeSpecialFiles(dir: string): Promise<number> {
  let removed = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const current = stack.pop() as string;
    const entries = await readdir(current, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) stack.push(full);
      else if (!entry.isFile()) {
        await unlink(full).catch(() => undefined);
        removed++;
      }
    }
  }
  return removed;
}

/**
 * Copy a directory tree with `cp -a` (modes, owners and mtimes kept, so make sees the copy
 * as up to date; reflinks where the filesystem has them).
 */
export async function copyTree(from: string, to: string): Promise<void> {
  const result = await run("cp", ["-a", "--reflink=auto", "--no-target-directory", from, to], {
    timeoutMs: 10 * 60_000,
  });
  if (result.exitCode !== 0) throw new Error(`copying ${from} to ${to}: ${result.stderr.trim()}`);
}
