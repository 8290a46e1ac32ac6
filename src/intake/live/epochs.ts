import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import type { Config, EpochsConfig } from "../../config.js";
import { HypwatchError, type ErrorKind } from "../../errors.js";
import { isAncestor, looksLikeGitDir, resolveCommit } from "../../io/git-archive.js";
import {
  GitMirrorError,
  blobsWritten,
  chainLength,
  firstParentChain,
  mergeBase,
  remoteRepositoryExists,
  updateMirror,
} from "../../io/git-mirror.js";
import { redact } from "../../log.js";
import { DEFAULT_MAIL_LIMITS, type MailLimits } from "../../mail/limits.js";
import { listEpochs, readPublicInbox } from "../publicInbox.js";
import { decodeCheckpoint, mailMessageId, pause, shortHash } from "./common.js";
import {
  reporter,
  type Checkpoint,
  type LiveMail,
  type LiveReadOptions,
  type LiveSource,
} from "./types.js";

/** Why part of an inbox's epochs could not be read, or what the source has to tell about them. */
export type EpochsErrorCode =
  /** The checkpoint is not one of this source. */
  | "bad-checkpoint"
  /** The remote has no epoch 0: a wrong base, a remote down, or a directory without epochs. */
  | "no-epochs"
  /** An epoch could not be cloned or fetched; what the mirror has is read. */
  | "fetch-failed"
  /** The checkpoint's commit is no longer in the epoch's history (public-inbox purged mail). */
  | "epoch-rewritten";

/** `source` and `reason` are redacted too: a remote URL may carry a token. */
export class EpochsError extends HypwatchError {
  readonly kind: ErrorKind;
  readonly source: string;
  readonly reason: string;
  constructor(
    readonly code: EpochsErrorCode,
    source: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(redact(`${source}: ${reason}`), options);
    this.source = redact(source);
    this.reason = redact(reason);
    this.kind = code === "no-epochs" || code === "fetch-failed" ? "upstream" : "permanent";
  }
}

export interface EpochsSourceOptions {
  /**
   * The inbox: a URL base whose epochs are `<base>/git/<N>.git` (lore:
   * `https://lore.kernel.org/kvmarm`), or a local directory of `<N>.git` (or `git/<N>.git`).
   */
  remote: string;
  /** Where the bare mirrors of the epochs are kept, one `<N>.git` each. */
  mirrorDir: string;
  /** Milliseconds between polls; each wait adds up to 20% of jitter. */
  pollIntervalMs: number;
  limits?: MailLimits;
  /** Message-ID hashes kept in the checkpoint: 1,000 (about 19 kB), as the IMAP source keeps. */
  maxSeen?: number;
  /** Injected for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

/**
 * The checkpoint, as JSON: `{ v: 1, epoch, commit, n, seen }`.
 * - `epoch` and `commit`: the epoch (`N` of `N.git`) and the commit of the last message
 *   yielded; a read resumes with the commit after it, then the later epochs.
 * - `n`: that commit's place in the epoch (commits up to and including it), to find where to
 *   resume when the commit is gone from the epoch's history and from the mirror: a purge
 *   replaces a commit by one of an empty message, so places stay. (Commit dates are the
 *   messages' `Date:`, which is not in commit order.)
 * - `seen`: hashes of the last `maxSeen` Message-IDs yielded, newest last: after a rewrite, a
 *   message among them is not yielded again.
 */
const checkpointSchema = z.object({
  v: z.literal(1),
  epoch: z.number().int().nonnegative(),
  commit: z.string().regex(/^[0-9a-f]{40,64}$/),
  n: z.number().int().positive(),
  seen: z.array(z.string()),
});
type EpochsCheckpoint = z.infer<typeof checkpointSchema>;

/**
 * An epochs source's options as configured: the inbox and poll interval of `inbox` (a list's
 * epochs source; default the HYPWATCH_EPOCHS_* one), the cache and the mail limits.
 * Undefined when `inbox` has no URL.
 */
export function epochsSourceOptions(
  config: Config,
  cacheDir: string,
  inbox: EpochsConfig = config.epochs,
): EpochsSourceOptions | undefined {
  const remote = inbox.url;
  if (!remote) return undefined;
  return {
    remote,
    mirrorDir: path.join(cacheDir, "epochs", inboxName(remote)),
    pollIntervalMs: inbox.pollIntervalSeconds * 1000,
    limits: config.mailLimits,
  };
}

function inboxName(remote: string): string {
  const trimmed = remote.replace(/\/+$/, "").replace(/\/git$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1).replace(/[^A-Za-z0-9._-]/g, "_") || "inbox";
}

function isUrl(remote: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(remote);
}

const EPOCH = /^(\d+)\.git$/;

/** The id git gives a blob of these bytes: the same message in a rewritten history has it. */
function blobId(raw: Buffer): string {
  return createHash("sha1").update(`blob ${raw.length}\0`).update(raw).digest("hex");
}

function messageIdKey(raw: Buffer): string | null {
  const id = mailMessageId(raw);
  return id === null ? null : shortHash(id);
}

function parseCheckpoint(source: string, from: Checkpoint): EpochsCheckpoint {
  const decoded = decodeCheckpoint(checkpointSchema, from, "epochs");
  if ("reason" in decoded) throw new EpochsError("bad-checkpoint", source, decoded.reason);
  return decoded.value;
}

interface Epoch {
  n: number;
  remote: string;
}

/**
 * A public-inbox v2 inbox's git epochs as a live source, read as lore's mirrors keep them:
 * each epoch is mirrored (`git clone --mirror`, then `git fetch`) under `mirrorDir`, and the
 * commits after the checkpoint are read in commit order with the batch reader
 * (`readPublicInbox`), origin `<N>.git@<commit>`. `read(null)` starts at the first commit of
 * epoch 0. A new epoch is picked up by the next read: a local directory is listed, a remote
 * is probed for `<N+1>.git` with `git ls-remote`.
 *
 * When public-inbox has rewritten an epoch (a purge), the checkpoint's commit is no longer in
 * its history: reading resumes after the last commit both histories share (or, when the old
 * commit is gone from the mirror too, `seen`'s length before the checkpoint's place),
 * skipping a message whose blob the old history delivered after that point or whose
 * Message-ID hash is in the checkpoint; an `epoch-rewritten` error goes to `onError`.
 */
export function createEpochsSource(opts: EpochsSourceOptions): LiveSource {
  const remoteBase = opts.remote.replace(/\/+$/, "");
  const id = `epochs:${inboxName(remoteBase)}`;
  const limits = opts.limits ?? DEFAULT_MAIL_LIMITS;
  const maxSeen = opts.maxSeen ?? 1000;
  const sleep = opts.sleep ?? pause;
  const random = opts.random ?? Math.random;
  const mirrorOf = (n: number): string => path.join(opts.mirrorDir, `${n}.git`);

  async function mirroredEpochs(): Promise<number[]> {
    let names: string[];
    try {
      names = await readdir(opts.mirrorDir);
    } catch {
      return [];
    }
    const found: number[] = [];
    for (const name of names) {
      const match = EPOCH.exec(name);
      if (match && (await looksLikeGitDir(path.join(opts.mirrorDir, name)))) {
        found.push(Number(match[1]));
      }
    }
    return found.sort((a, b) => a - b);
  }

  /** The remote's epochs, oldest first: listed for a directory, probed for a URL. */
  async function discoverEpochs(): Promise<Epoch[]> {
    if (!isUrl(remoteBase)) {
      const epochs: Epoch[] = [];
      for (const dir of await listEpochs(remoteBase)) {
        const match = EPOCH.exec(path.basename(dir));
        if (match) epochs.push({ n: Number(match[1]), remote: dir });
      }
      return epochs;
    }
    const urlOf = (n: number): string => `${remoteBase}/git/${n}.git`;
    // Epochs already mirrored are known to exist; only the ones after are probed.
    const known = await mirroredEpochs();
    let next = known.length > 0 ? (known.at(-1) ?? -1) + 1 : 0;
    while (await remoteRepositoryExists(urlOf(next))) next++;
    const epochs: Epoch[] = [];
    for (let n = 0; n < next; n++) epochs.push({ n, remote: urlOf(n) });
    return epochs;
  }

  async function* read(
    from: Checkpoint | null,
    readOpts: LiveReadOptions = {},
  ): AsyncGenerator<LiveMail> {
    const { signal } = readOpts;
    const report = reporter(readOpts);
    const start = from === null ? null : parseCheckpoint(id, from);
    // `seen` is `history` from `oldest` on: a checkpoint keeps these bounds, not a copy.
    // History is cut into a new array now and then; checkpoints made before keep the old one.
    let history = [...(start?.seen ?? [])];
    let oldest = 0;
    const seenSet = new Set(history);

    const epochs = await discoverEpochs();
    if (epochs.length === 0) {
      throw new EpochsError("no-epochs", remoteBase, "no public-inbox epoch (0.git) there");
    }
    for (const epoch of epochs) {
      if (start && epoch.n < start.epoch) continue;
      if (signal?.aborted) throw signal.reason;
      const gitDir = mirrorOf(epoch.n);
      const mirrored = await looksLikeGitDir(gitDir);
      try {
        await updateMirror(epoch.remote, gitDir, mirrored);
      } catch (error) {
        const reason = error instanceof GitMirrorError ? error.reason : String(error);
        report(new EpochsError("fetch-failed", epoch.remote, reason, { cause: error }));
        // Without this epoch, reading a later one would skip its messages for good.
        if (!mirrored) return;
      }
      const head = await resolveCommit(gitDir, "HEAD");
      if (head === null) continue; // An epoch public-inbox created but wrote nothing to yet.

      let since: string | undefined;
      let oldBlobs = new Set<string>();
      let dedupe = false;
      if (start && epoch.n === start.epoch) {
        const old = await resolveCommit(gitDir, start.commit);
        if (old !== null && (await isAncestor(gitDir, old, head))) {
          since = old;
        } else {
          dedupe = true;
          let base: string | null;
          if (old !== null) {
            base = await mergeBase(gitDir, old, head);
            oldBlobs = await blobsWritten(gitDir, old, base, "m");
          } else {
            // The last `seen` commits before the place are read again and skipped by their
            // Message-IDs, which also covers a rewrite that dropped up to that many commits.
            const chain = await firstParentChain(gitDir, head);
            base = chain[Math.min(start.n, chain.length) - start.seen.length - 1] ?? null;
          }
          since = base ?? undefined;
          report(
            new EpochsError(
              "epoch-rewritten",
              `${epoch.n}.git`,
              `commit ${start.commit} is no longer in the history; reading after ${base ?? "the first commit"}, skipping messages already yielded`,
            ),
          );
        }
      }

      // Places of the commits read: after `since`, counted from its own.
      const offset = since ? await chainLength(gitDir, since) : 0;
      const places = new Map<string, number>();
      for (const [i, commit] of (await firstParentChain(gitDir, head, since)).entries()) {
        places.set(commit, offset + i + 1);
      }
      for await (const mail of readPublicInbox(gitDir, {
        since,
        limits,
        onError: report,
      })) {
        if (signal?.aborted) throw signal.reason;
        // What public-inbox-purge leaves in place of a purged message.
        if (mail.raw.length === 0) continue;
        const key = messageIdKey(mail.raw);
        if (dedupe && (oldBlobs.has(blobId(mail.raw)) || (key !== null && seenSet.has(key)))) {
          continue;
        }
        if (key !== null && !seenSet.has(key)) {
          history.push(key);
          seenSet.add(key);
          while (history.length - oldest > maxSeen) seenSet.delete(history[oldest++] as string);
          if (oldest >= maxSeen) {
            history = history.slice(oldest);
            oldest = 0;
          }
        }
        const commit = mail.commit ?? "";
        const at = { epoch: epoch.n, commit, n: places.get(commit) ?? 1 };
        const seen = { history, from: oldest, to: history.length };
        // Written out only when read: with `seen` a checkpoint is about 19 kB of JSON, and a
        // reader stores only the last one of each batch it stores.
        yield {
          mail,
          get checkpoint() {
            const checkpoint: EpochsCheckpoint = {
              v: 1,
              ...at,
              seen: seen.history.slice(seen.from, seen.to),
            };
            return JSON.stringify(checkpoint);
          },
        };
      }
    }
  }

  return {
    id,
    read,
    async waitForNew(signal?: AbortSignal): Promise<void> {
      await sleep(opts.pollIntervalMs * (1 + 0.2 * random()), signal);
    },
    async close(): Promise<void> {
      // Every git process ends with its command; nothing stays open between reads.
    },
  };
}
