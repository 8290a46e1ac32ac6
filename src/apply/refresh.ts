import { stat, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { errorMessage, redact } from "../log.js";
import { fetchAll } from "../io/git.js";
import { withLock } from "../io/lock.js";
import { isRemoteUrl } from "./tree.js";
import { TreeError } from "./types.js";

export interface RefreshOptions {
  /** Fetch when the last fetch is older than this. */
  intervalMs: number;
  timeoutMs?: number;
  now?: () => number;
}

/**
 * Bring a tree cloned from `url` up to date with it, at most once per interval across every
 * check on this machine (a stamp file under a lock says when it was last fetched). A local
 * tree is the operator's to update and is left alone. A failed fetch is an upstream error:
 * the check is retried later rather than run on a stale base.
 */
export async function refreshTree(
  repo: string,
  url: string,
  opts: RefreshOptions,
): Promise<boolean> {
  if (!isRemoteUrl(url)) return false;
  const now = opts.now ?? Date.now;
  const stamp = path.join(repo, "hypwatch-fetched");
  const fresh = async () => {
    const fetched = await stat(stamp).then(
      (s) => s.mtimeMs,
      () => 0,
    );
    return now() - fetched < opts.intervalMs;
  };
  if (await fresh()) return false;
  return withLock(`${repo}.fetch.lock`, async () => {
    if (await fresh()) return false;
    try {
      await fetchAll(repo, url, opts.timeoutMs ?? 3600_000);
    } catch (error) {
      throw new TreeError(redact(url), `fetch failed: ${errorMessage(error)}`, "upstream");
    }
    await writeFile(stamp, "");
    const at = new Date(now());
    await utimes(stamp, at, at);
    return true;
  });
}
