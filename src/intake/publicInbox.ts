import { readdir } from "node:fs/promises";
import path from "node:path";
import {
  GitArchiveError,
  catFileBatch,
  isAncestor,
  looksLikeGitDir,
  objectExists,
  openGitDir,
  resolveCommit,
  revListReverse,
  treeEntries,
  type OpenedGitDir,
} from "../io/git-archive.js";
import { DEFAULT_MAIL_LIMITS } from "../mail/limits.js";
import { overLimitReason } from "../mail/limits.js";
import { SourceError, reportOrThrow, type ReadOptions } from "./errors.js";
import type { RawMail } from "./types.js";

export interface PublicInboxOptions extends ReadOptions {
  /** The last commit already read: only the commits after it are read. */
  since?: string;
  /** The branch to read; public-inbox writes `master`, which is also HEAD. */
  ref?: string;
}

const EPOCH = /^(\d+)\.git$/;

/**
 * The epochs of a public-inbox v2 inbox as lore mirrors have it (`all.git` beside
 * `git/0.git`, `git/1.git`, ...), oldest first; also accepts the epochs directly in `dir`.
 * Empty when `dir` holds no epochs.
 */
export async function listEpochs(dir: string): Promise<string[]> {
  for (const holder of [path.join(dir, "git"), dir]) {
    let names: string[];
    try {
      names = await readdir(holder);
    } catch {
      continue;
    }
    const epochs = names
      .map((name) => ({ name, match: EPOCH.exec(name) }))
      .filter((entry) => entry.match !== null)
      .sort((a, b) => Number(a.match?.[1]) - Number(b.match?.[1]))
      .map((entry) => path.join(holder, entry.name));
    const valid: string[] = [];
    for (const epoch of epochs) if (await looksLikeGitDir(epoch)) valid.push(epoch);
    if (valid.length > 0) return valid;
  }
  return [];
}

/**
 * Read a public-inbox v2 archive: one epoch (a bare repository) or a directory of epochs,
 * read epoch by epoch. Every commit adds one message as the blob `m`; commits that delete
 * one (they add `d` instead) are skipped. Blobs are read through one `git cat-file --batch`
 * per epoch. With `since`, reading resumes after that commit.
 */
export async function* readPublicInbox(
  source: string,
  opts: PublicInboxOptions = {},
): AsyncGenerator<RawMail> {
  const single = await looksLikeGitDir(source);
  const epochs = single ? [source] : await listEpochs(source);
  if (epochs.length === 0) {
    throw new SourceError(
      "not-git",
      source,
      "neither a public-inbox epoch nor a directory of epochs",
    );
  }
  const ref = opts.ref ?? "HEAD";
  const root = single ? path.dirname(path.resolve(source)) : path.resolve(source, "..");

  const opened: OpenedGitDir[] = [];
  try {
    for (const epoch of epochs) opened.push(await openEpoch(source, epoch));
    let start = 0;
    let since: string | undefined;
    if (opts.since) {
      const found = await findSince(source, opened, ref, opts.since);
      start = found.index;
      since = found.commit;
    }
    for (let i = start; i < opened.length; i++) {
      const epoch = opened[i];
      const epochPath = epochs[i];
      if (!epoch || !epochPath) continue;
      const label = path.relative(root, path.resolve(epochPath));
      yield* readEpoch(source, epoch.gitDir, label, ref, i === start ? since : undefined, opts);
    }
  } finally {
    await Promise.all(opened.map((epoch) => epoch.close()));
  }
}

async function openEpoch(source: string, epoch: string): Promise<OpenedGitDir> {
  try {
    return await openGitDir(epoch);
  } catch (cause) {
    throw asSourceError(source, cause);
  }
}

async function findSince(
  source: string,
  epochs: OpenedGitDir[],
  ref: string,
  since: string,
): Promise<{ index: number; commit: string }> {
  for (let i = 0; i < epochs.length; i++) {
    const epoch = epochs[i];
    if (!epoch) continue;
    const commit = await resolveCommit(epoch.gitDir, since);
    if (!commit) continue;
    if (!(await isAncestor(epoch.gitDir, commit, ref))) {
      throw new SourceError(
        "unknown-commit",
        source,
        `commit ${since} is not in the history of ${ref}`,
      );
    }
    return { index: i, commit };
  }
  throw new SourceError("unknown-commit", source, `no epoch has commit ${since}`);
}

async function* readEpoch(
  source: string,
  gitDir: string,
  label: string,
  ref: string,
  since: string | undefined,
  opts: ReadOptions,
): AsyncGenerator<RawMail> {
  async function* requests(): AsyncGenerator<string> {
    for await (const commit of revListReverse(gitDir, ref, since)) yield `${commit}:m`;
  }
  try {
    for await (const object of catFileBatch(gitDir, requests())) {
      const commit = object.request.slice(0, -":m".length);
      const origin = `${label}@${commit}`;
      if (object.found && object.type === "blob") {
        const cap = (opts.limits ?? DEFAULT_MAIL_LIMITS).maxMessageBytes;
        if (object.content.length > cap) {
          const what = `message of ${object.content.length} bytes`;
          const reason = overLimitReason("maxMessageBytes", what, cap);
          reportOrThrow(new SourceError("over-limit", source, reason, origin), opts);
          continue;
        }
        yield { raw: object.content, origin, commit };
        continue;
      }
      // Rare: a deletion (the commit adds `d`), an object missing from the mirror, or a
      // commit public-inbox would not write.
      const why = await unreadableEntry(gitDir, commit);
      if (why === null) continue;
      reportOrThrow(new SourceError(why.code, source, why.reason, origin), opts);
    }
  } catch (cause) {
    throw asSourceError(source, cause);
  }
}

/**
 * Why the message of `commit` could not be read: an object missing from the archive (named,
 * as real mirrors lack some), or a commit with neither `m` nor `d`; null for a deletion.
 */
async function unreadableEntry(
  gitDir: string,
  commit: string,
): Promise<{ code: "missing-object" | "read-failed"; reason: string } | null> {
  const tree = await treeEntries(gitDir, commit);
  if (tree.entries === null) {
    return { code: "missing-object", reason: `${tree.missing} is missing from the archive` };
  }
  const m = tree.entries.get("m");
  if (m && !(await objectExists(gitDir, m.oid))) {
    return {
      code: "missing-object",
      reason: `blob ${m.oid} (message m of commit ${commit}) is missing from the archive`,
    };
  }
  if (!m && tree.entries.has("d")) return null;
  return { code: "read-failed", reason: "commit has neither a message m nor a deletion d" };
}

function asSourceError(source: string, cause: unknown): SourceError {
  if (cause instanceof SourceError) return cause;
  if (cause instanceof GitArchiveError) return new SourceError("not-git", source, cause.message);
  return new SourceError(
    "read-failed",
    source,
    cause instanceof Error ? cause.message : String(cause),
  );
}
