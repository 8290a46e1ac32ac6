import { createHash } from "node:crypto";
import { createReadStream, watch, type FSWatcher } from "node:fs";
import { open, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { HypwatchError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { DEFAULT_MAIL_LIMITS, overLimitReason, type MailLimits } from "../../mail/limits.js";
import { SourceError } from "../errors.js";
import { isMaildir, readEml } from "../files.js";
import { splitMbox, type MboxFormat } from "../mbox.js";
import type { RawMail } from "../types.js";
import { decodeCheckpoint, mailMessageId, seenKey, shortHash } from "./common.js";
import {
  reporter,
  type Checkpoint,
  type LiveMail,
  type LiveReadOptions,
  type LiveSource,
} from "./types.js";

/** What a local source had to tell about its checkpoint or its file. */
export type LocalSourceErrorCode =
  "bad-checkpoint" | "mbox-truncated" | "mbox-rotated" | "mbox-rewritten";

export class LocalSourceError extends HypwatchError {
  // A checkpoint or a file that changed under it: reading it again gives the same answer.
  readonly kind = "permanent";
  constructor(
    readonly code: LocalSourceErrorCode,
    readonly source: string,
    reason: string,
  ) {
    super(`${source}: ${reason}`);
  }
}

export interface LocalSourceOptions {
  /** `maxMessageBytes` and `maxLineBytes` as in the batch readers. */
  limits?: MailLimits;
  log?: Logger;
  /** `waitForNew` resolves after this long even if no file event came (fs.watch can miss). */
  pollMs?: number;
}

export interface MaildirSourceOptions extends LocalSourceOptions {
  /**
   * Names are remembered while their delivery time is within this many seconds of the newest
   * name yielded (default 2 days): a late delivery (a slow `tmp/` to `new/` move, another
   * host's clock) is still read, and a name older than that is taken as already yielded.
   */
  windowSeconds?: number;
  /** Names kept in the checkpoint at most (default 5,000, about 150 kB); the oldest go first. */
  seenLimit?: number;
}

export interface MboxSourceOptions extends LocalSourceOptions {
  format?: MboxFormat;
  /** Message-ID hashes kept to skip after a truncation, rotation or rewrite (default 1,000). */
  seenLimit?: number;
  /**
   * The last message of the file counts as complete when it ends with a blank line and the
   * file has not changed for this long (default 1 s); one followed by a `From ` line always is.
   */
  settleMs?: number;
}

function parseJson<T>(schema: z.ZodType<T>, from: string, source: string, shape: string): T {
  const decoded = decodeCheckpoint(schema, from, shape);
  if ("reason" in decoded) throw new LocalSourceError("bad-checkpoint", source, decoded.reason);
  return decoded.value;
}

const isMissing = (error: unknown): boolean =>
  error instanceof Error && (error as NodeJS.ErrnoException).code === "ENOENT";

/**
 * Resolves on an fs.watch event for one of `targets` (a directory, and optionally one name in
 * it), after `pollMs`, when `changed()` already says so, or on abort.
 */
async function waitForChange(
  targets: { dir: string; name?: string }[],
  pollMs: number,
  changed: () => Promise<boolean>,
  signal?: AbortSignal,
): Promise<void> {
  if (signal?.aborted) return;
  const watchers: FSWatcher[] = [];
  let finish = (): void => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  const timer = setTimeout(finish, pollMs);
  const onAbort = (): void => finish();
  signal?.addEventListener("abort", onAbort, { once: true });
  for (const { dir, name } of targets) {
    try {
      const watcher = watch(dir, { persistent: false }, (_event, file) => {
        if (name === undefined || file === null || file === name) finish();
      });
      // A watch that fails (the directory went away, no inotify) leaves the poll to do it.
      watcher.on("error", () => watcher.close());
      watchers.push(watcher);
    } catch {
      // Not watchable here: the poll interval stands in.
    }
  }
  try {
    // Mail that came between the end of the last read and the watch is not an event.
    if (await changed()) finish();
    await done;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    for (const watcher of watchers) watcher.close();
  }
}

// ---------------------------------------------------------------------------------------
// Maildir

/** The part of a Maildir name a client never changes: before the `:2,` flags. */
export function maildirKey(name: string): string {
  const colon = name.indexOf(":");
  return colon === -1 ? name : name.slice(0, colon);
}

/** Delivery time in seconds from a Maildir name (`1700000000.M1P2.host`), else null. */
export function maildirTime(name: string): number | null {
  const m = /^(\d+)(?:\.|$)/.exec(name);
  return m?.[1] === undefined ? null : Number(m[1]);
}

/**
 * What a Maildir source resumes from: every name yielded whose delivery time is above
 * `floor`, as `[time, hash of the unique part]`. A name at or below `floor` counts as yielded.
 */
const maildirCheckpointSchema = z.object({
  v: z.literal(1),
  floor: z.number(),
  seen: z.array(z.tuple([z.number(), z.string()])),
});
type MaildirCheckpoint = z.infer<typeof maildirCheckpointSchema>;

const byName = new Intl.Collator("en", { numeric: true }).compare;

interface MaildirEntry {
  sub: "new" | "cur";
  name: string;
  key: string;
  time: number;
}

/**
 * A Maildir as a live source. `read(null)` yields every message in `new/` and `cur/`; then
 * only those not yielded before, ordered by the delivery time in their name, then the name.
 * A message another client moves from `new/` to `cur/` or flags keeps the unique part of
 * its name, and is not yielded again. Nothing in the Maildir is changed.
 */
export class MaildirSource implements LiveSource {
  readonly id: string;
  private readonly limits: MailLimits;
  private readonly window: number;
  private readonly seenLimit: number;
  private readonly label: string;
  private stamp = "";

  constructor(
    private readonly dir: string,
    private readonly opts: MaildirSourceOptions = {},
  ) {
    this.id = `maildir:${path.resolve(dir)}`;
    this.label = path.basename(path.resolve(dir));
    this.limits = opts.limits ?? DEFAULT_MAIL_LIMITS;
    this.window = opts.windowSeconds ?? 2 * 24 * 3600;
    this.seenLimit = opts.seenLimit ?? 5000;
  }

  private async list(): Promise<MaildirEntry[]> {
    const entries: MaildirEntry[] = [];
    const keys = new Set<string>();
    for (const sub of ["new", "cur"] as const) {
      let names: string[];
      try {
        names = (await readdir(path.join(this.dir, sub), { withFileTypes: true }))
          .filter((e) => e.isFile() && !e.name.startsWith("."))
          .map((e) => e.name);
      } catch (error) {
        if (isMissing(error)) continue;
        throw error;
      }
      for (const name of names) {
        const key = maildirKey(name);
        // Listed in new/ and again in cur/ while a client moved it: once.
        if (keys.has(key)) continue;
        keys.add(key);
        let time = maildirTime(name);
        if (time === null) {
          try {
            time = Math.floor((await stat(path.join(this.dir, sub, name))).mtimeMs / 1000);
          } catch {
            continue;
          }
        }
        entries.push({ sub, name, key, time });
      }
    }
    return entries.sort((a, b) => a.time - b.time || byName(a.key, b.key));
  }

  /** Where a message is now: a client may have moved or flagged it since the listing. */
  private async locate(key: string): Promise<{ sub: string; name: string } | null> {
    for (const entry of await this.list()) {
      if (entry.key === key) return entry;
    }
    return null;
  }

  private async dirStamp(): Promise<string> {
    const parts: string[] = [];
    for (const sub of ["new", "cur"]) {
      try {
        const st = await stat(path.join(this.dir, sub));
        parts.push(`${st.ino}:${st.mtimeMs}`);
      } catch {
        parts.push("-");
      }
    }
    return parts.join(",");
  }

  async *read(from: Checkpoint | null, opts: LiveReadOptions = {}): AsyncIterable<LiveMail> {
    const report = reporter(opts);
    const state: MaildirCheckpoint =
      from === null
        ? { v: 1, floor: -1, seen: [] }
        : parseJson(maildirCheckpointSchema, from, this.id, "Maildir");
    const seen = new Set(state.seen.map(([, hash]) => hash));
    this.stamp = await this.dirStamp();
    let newest = state.seen.reduce((max, [time]) => Math.max(max, time), state.floor);

    for (const entry of await this.list()) {
      if (opts.signal?.aborted) return;
      if (entry.time <= state.floor) continue;
      const hash = shortHash(entry.key);
      if (seen.has(hash)) continue;

      const mail = await this.readEntry(entry, report);
      if (mail === null) continue;
      seen.add(hash);
      state.seen.push([entry.time, hash]);
      newest = Math.max(newest, entry.time);
      this.prune(state, seen, newest, entry.time);
      yield { mail, checkpoint: JSON.stringify(state) };
    }
  }

  /**
   * Forget names out of the window, then the oldest over the limit, raising the floor; never
   * to `current` (the time of the message just yielded), since later names of this listing may
   * share it: more names than the limit share a second only in a burst, and the limit waits.
   */
  private prune(
    state: MaildirCheckpoint,
    seen: Set<string>,
    newest: number,
    current: number,
  ): void {
    let floor = Math.max(state.floor, newest - this.window);
    if (state.seen.length > this.seenLimit) {
      const times = state.seen.map(([time]) => time).sort((a, b) => a - b);
      const oldest = times[state.seen.length - this.seenLimit - 1] ?? floor;
      floor = Math.max(floor, Math.min(oldest, current - 1));
    }
    if (floor === state.floor) return;
    state.floor = floor;
    state.seen = state.seen.filter(([time, hash]) => {
      if (time > floor) return true;
      seen.delete(hash);
      return false;
    });
  }

  private async readEntry(
    entry: MaildirEntry,
    report: (error: Error) => void,
  ): Promise<RawMail | null> {
    let where: { sub: string; name: string } | null = entry;
    for (let attempt = 0; attempt < 2 && where !== null; attempt++) {
      const file = path.join(this.dir, where.sub, where.name);
      const origin = `${this.label}/${where.sub}/${where.name}`;
      let failure: SourceError | null = null;
      for await (const mail of readEml(file, {
        limits: this.limits,
        onError: (error) => (failure = error),
      })) {
        return { raw: mail.raw, origin };
      }
      const error = failure as SourceError | null;
      if (error === null) return null;
      const named = new SourceError(error.code, this.id, error.reason, origin);
      if (error.code !== "read-failed") {
        report(named);
        return null;
      }
      // Gone between the listing and the read: moved to cur/ or flagged, read it there.
      where = attempt === 0 ? await this.locate(entry.key) : null;
      if (where === null) report(named);
    }
    return null;
  }

  async waitForNew(signal?: AbortSignal): Promise<void> {
    const targets = ["new", "cur"].map((sub) => ({ dir: path.join(this.dir, sub) }));
    await waitForChange(
      targets,
      this.opts.pollMs ?? 30_000,
      async () => (await this.dirStamp()) !== this.stamp,
      signal,
    );
  }

  async close(): Promise<void> {}
}

// ---------------------------------------------------------------------------------------
// mbox

/**
 * What an mbox source resumes from: the offset after the last message yielded, the file's
 * inode, a hash of the bytes just before the offset (so a file rewritten in place is told
 * from one appended to), and hashes of the Message-IDs yielded most recently.
 */
const mboxCheckpointSchema = z.object({
  v: z.literal(1),
  offset: z.number().int().nonnegative(),
  ino: z.string(),
  tail: z.string(),
  seen: z.array(z.string()),
});
type MboxCheckpoint = z.infer<typeof mboxCheckpointSchema>;

/** Message-ID hashes yielded, oldest first, and the same as a set. */
interface Seen {
  list: string[];
  set: Set<string>;
}

const TAIL_BYTES = 256;
const LF = 0x0a;
const FROM_ = Buffer.from("From ");
/** Room for the `From ` line and the blank line around a message within the size limit. */
const ENVELOPE_SLACK = 4096;

/**
 * An mbox file mail is appended to, as a live source. `read(null)` starts at the beginning
 * of the file; a read from a checkpoint goes on at its offset. A file that is shorter than
 * the offset, has another inode or other bytes before the offset is read again from the
 * start, skipping messages whose Message-ID was yielded recently; a `LocalSourceError` says
 * which through `onError`. Origins are `<file>@<offset>`.
 */
export class MboxSource implements LiveSource {
  readonly id: string;
  private readonly limits: MailLimits;
  private readonly seenLimit: number;
  private readonly settleMs: number;
  private readonly label: string;
  private stamp = "";

  constructor(
    private readonly file: string,
    private readonly opts: MboxSourceOptions = {},
  ) {
    this.id = `mbox:${path.resolve(file)}`;
    this.label = path.basename(file);
    this.limits = opts.limits ?? DEFAULT_MAIL_LIMITS;
    this.seenLimit = opts.seenLimit ?? 1000;
    this.settleMs = opts.settleMs ?? 1000;
  }

  private async fileStamp(): Promise<string> {
    try {
      const st = await stat(this.file, { bigint: true });
      return `${st.ino}:${st.size}:${st.mtimeNs}`;
    } catch {
      return "-";
    }
  }

  async *read(from: Checkpoint | null, opts: LiveReadOptions = {}): AsyncIterable<LiveMail> {
    const report = reporter(opts);
    const start: MboxCheckpoint | null =
      from === null ? null : parseJson(mboxCheckpointSchema, from, this.id, "mbox");
    this.stamp = await this.fileStamp();
    const seen: Seen = { list: [...(start?.seen ?? [])], set: new Set(start?.seen ?? []) };
    let handle: Handle | null;
    try {
      handle = await open(this.file, "r");
    } catch (error) {
      if (!isMissing(error)) {
        throw new SourceError("not-found", this.file, `cannot open: ${String(error)}`);
      }
      handle = null;
    }
    try {
      const st = handle === null ? null : await handle.stat({ bigint: true });
      const ino = st?.ino.toString() ?? null;
      if (start !== null && start.ino !== ino) {
        // Rotated: the rest of the old file first, where logrotate or the MDA moved it.
        yield* this.readRotated(start, seen, opts, report);
      }
      // No mail delivered yet.
      if (handle === null || st === null || ino === null) return;
      const size = Number(st.size);
      let offset = 0;
      let dedupe = false;
      if (start !== null) {
        let problem: [LocalSourceErrorCode, string] | null = null;
        if (start.ino !== ino) problem = ["mbox-rotated", `inode changed from ${start.ino}`];
        else if (size < start.offset) {
          problem = ["mbox-truncated", `shorter (${size} bytes) than the checkpoint's offset`];
        } else if ((await tailHash(handle, start.offset)) !== start.tail) {
          problem = ["mbox-rewritten", "bytes before the checkpoint's offset changed"];
        }
        if (problem === null) offset = start.offset;
        else {
          dedupe = true;
          const [code, why] = problem;
          const notice = new LocalSourceError(
            code,
            this.id,
            `${why}: reading it again from the start, skipping the ${seen.list.length} ` +
              `messages whose Message-ID was yielded before`,
          );
          this.opts.log?.warn({ source: this.id, code }, "mbox changed under its checkpoint");
          report(notice);
        }
      }
      const settled = Date.now() - Number(st.mtimeMs) >= this.settleMs;
      const file = { path: this.file, label: this.label, handle, ino, size };
      yield* this.messages(file, offset, settled, dedupe, seen, opts, report);
    } finally {
      await handle?.close();
    }
  }

  /**
   * The messages after the checkpoint in the file the checkpoint was made on, when it was
   * moved beside this one (`kvmarm.mbox.1`, `kvmarm.mbox-20260101`) and still holds those
   * bytes; nothing when it is gone, compressed or rewritten.
   */
  private async *readRotated(
    start: MboxCheckpoint,
    seen: Seen,
    opts: LiveReadOptions,
    report: (error: Error) => void,
  ): AsyncIterable<LiveMail> {
    const dir = path.dirname(path.resolve(this.file));
    let names: string[];
    try {
      names = (await readdir(dir)).filter(
        (name) => name !== this.label && name.startsWith(this.label),
      );
    } catch {
      return;
    }
    for (const name of names.sort(byName).slice(0, 64)) {
      const candidate = path.join(dir, name);
      let handle: Handle;
      try {
        handle = await open(candidate, "r");
      } catch {
        continue;
      }
      try {
        const st = await handle.stat({ bigint: true });
        const size = Number(st.size);
        if (st.ino.toString() !== start.ino || size < start.offset) continue;
        if ((await tailHash(handle, start.offset)) !== start.tail) continue;
        const file = { path: candidate, label: name, handle, ino: start.ino, size };
        // Nothing is appended to a rotated file any more: its last message is as complete
        // as it will get.
        yield* this.messages(file, start.offset, true, false, seen, opts, report);
        return;
      } finally {
        await handle.close();
      }
    }
  }

  /** The complete messages of `file` from `offset` on, each with the checkpoint after it. */
  private async *messages(
    file: { path: string; label: string; handle: Handle; ino: string; size: number },
    offset: number,
    settled: boolean,
    dedupe: boolean,
    seen: Seen,
    opts: LiveReadOptions,
    report: (error: Error) => void,
  ): AsyncIterable<LiveMail> {
    const { handle, size } = file;
    const starts = await mboxMessageStarts(file.path, offset, size);
    if (offset === 0 && size > 0 && starts[0] !== 0) {
      // Blank lines may come before the first From line (as in splitMbox); anything else,
      // even before a message is complete, is not mbox.
      const head = Buffer.alloc(Math.min(starts[0] ?? size, 64 * 1024));
      await handle.read(head, 0, head.length, 0);
      // The first bytes of a first From line being written.
      if (starts.length === 0 && FROM_.subarray(0, head.length).equals(head)) return;
      if (head.some((byte) => byte !== LF && byte !== 0x0d) || (starts[0] ?? size) > head.length) {
        throw new SourceError("not-mbox", file.path, "does not start with a From line");
      }
    }
    if (starts.length === 0) return;
    const lastComplete = settled && (await endsWithBlankLine(handle, size));
    const ranges: [number, number][] = [];
    for (let i = 0; i < starts.length; i++) {
      const next = starts[i + 1];
      if (next !== undefined) ranges.push([starts[i] as number, next]);
      else if (lastComplete) ranges.push([starts[i] as number, size]);
    }

    for (const [begin, end] of ranges) {
      if (opts.signal?.aborted) return;
      const origin = `${file.label}@${begin}`;
      if (end - begin > this.limits.maxMessageBytes + ENVELOPE_SLACK) {
        const what = `message of ${end - begin} bytes`;
        const reason = overLimitReason("maxMessageBytes", what, this.limits.maxMessageBytes);
        report(new SourceError("over-limit", this.id, reason, origin));
        continue;
      }
      const bytes = Buffer.alloc(end - begin);
      await handle.read(bytes, 0, bytes.length, begin);
      const mails: RawMail[] = [];
      const splitOpts = {
        format: this.opts.format,
        limits: this.limits,
        onError: (error: SourceError) =>
          report(new SourceError(error.code, this.id, error.reason, origin)),
      };
      for await (const mail of splitMbox([bytes], origin, splitOpts)) mails.push(mail);
      for (const mail of mails) {
        const key = seenKey(mailMessageId(mail.raw), mail.raw);
        if (dedupe && seen.set.has(key)) continue;
        if (!seen.set.has(key)) {
          seen.list.push(key);
          seen.set.add(key);
          while (seen.list.length > this.seenLimit) seen.set.delete(seen.list.shift() as string);
        }
        const checkpoint: MboxCheckpoint = {
          v: 1,
          offset: end,
          ino: file.ino,
          tail: await tailHash(handle, end),
          seen: seen.list,
        };
        yield { mail: { raw: mail.raw, origin }, checkpoint: JSON.stringify(checkpoint) };
      }
    }
  }

  async waitForNew(signal?: AbortSignal): Promise<void> {
    const target = { dir: path.dirname(path.resolve(this.file)), name: this.label };
    await waitForChange(
      [target],
      this.opts.pollMs ?? 30_000,
      async () => (await this.fileStamp()) !== this.stamp,
      signal,
    );
  }

  async close(): Promise<void> {}
}

type Handle = Awaited<ReturnType<typeof open>>;

/** The hash of the up to 256 bytes before `offset`. */
async function tailHash(handle: Handle, offset: number): Promise<string> {
  const length = Math.min(TAIL_BYTES, offset);
  const bytes = Buffer.alloc(length);
  await handle.read(bytes, 0, length, offset - length);
  return createHash("sha256").update(bytes).digest("base64url").slice(0, 22);
}

/** The file ends with an empty line (`\n\n` or `\r\n\r\n`), as an MDA ends a message. */
async function endsWithBlankLine(handle: Handle, size: number): Promise<boolean> {
  const length = Math.min(4, size);
  const bytes = Buffer.alloc(length);
  await handle.read(bytes, 0, length, size - length);
  const text = bytes.toString("latin1");
  return text.endsWith("\n\n") || text.endsWith("\r\n\r\n");
}

/**
 * Offsets of the `From ` lines between `from` and `to` (a line beginning at `from` counts):
 * where the messages begin. Streams the file; holds only the offsets.
 */
export async function mboxMessageStarts(
  file: string,
  from: number,
  to: number,
  chunkBytes = 256 * 1024,
): Promise<number[]> {
  const starts: number[] = [];
  if (to <= from) return starts;
  let pos = from;
  /** The bytes just before `pos` ended a line (or `pos` is where reading started). */
  let lineStart = true;
  /** A `From ` prefix cut by a chunk boundary: how much of it matched, and where it began. */
  let partial = 0;
  let partialAt = 0;
  const stream = createReadStream(file, { start: from, end: to - 1, highWaterMark: chunkBytes });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let i = 0;
    if (partial > 0) {
      while (partial < FROM_.length && i < chunk.length && chunk[i] === FROM_[partial]) {
        partial++;
        i++;
      }
      if (partial === FROM_.length) starts.push(partialAt);
      if (partial === FROM_.length || i < chunk.length) partial = 0;
      if (i === chunk.length && partial > 0) {
        pos += chunk.length;
        continue;
      }
      lineStart = false;
    }
    for (; i < chunk.length; i++) {
      if (lineStart) {
        lineStart = false;
        let k = 0;
        while (k < FROM_.length && i + k < chunk.length && chunk[i + k] === FROM_[k]) k++;
        if (k === FROM_.length) starts.push(pos + i);
        else if (i + k === chunk.length) {
          partial = k;
          partialAt = pos + i;
          break;
        }
      }
      if (chunk[i] === LF) lineStart = true;
    }
    pos += chunk.length;
  }
  return starts;
}

/** A live source for a local Maildir (a directory with `new/` or `cur/`) or mbox file. */
export async function createLocalSource(
  target: string,
  opts: MaildirSourceOptions & MboxSourceOptions = {},
): Promise<LiveSource> {
  if (await isMaildir(target)) return new MaildirSource(target, opts);
  return new MboxSource(target, opts);
}
