import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { DEFAULT_MAIL_LIMITS } from "../mail/limits.js";
import { HypwatchError } from "../errors.js";
import { overLimitReason } from "../mail/limits.js";
import { SourceError, reportOrThrow, type ReadOptions } from "./errors.js";
import type { RawMail } from "./types.js";

/**
 * How `>From ` lines were escaped. mboxrd (what lore and public-inbox serve) adds one `>`
 * to every `>*From ` line; mboxo only to `From ` lines, so only `>From ` is unescaped.
 */
export type MboxFormat = "mboxrd" | "mboxo";

export interface MboxOptions extends ReadOptions {
  format?: MboxFormat;
}

const LF = 0x0a;
const CR = 0x0d;
const GT = 0x3e;
const FROM_ = Buffer.from("From ");

const GZIP_MAGIC = [0x1f, 0x8b] as const;

function startsWithFrom(buf: Buffer, at: number, end: number): boolean {
  if (end - at < FROM_.length) return false;
  for (let i = 0; i < FROM_.length; i++) if (buf[at + i] !== FROM_[i]) return false;
  return true;
}

/**
 * Split an mbox byte stream into messages. The `From ` separator line and the blank line
 * in front of it are dropped, escaped `>From ` lines unescaped, line endings (LF or CRLF)
 * kept as they are. Holds one message at a time, whatever the size of the stream, and at
 * most `maxMessageBytes` of it: a longer message, or one with a line over `maxLineBytes`,
 * is dropped as it streams by and reported (`onError`; thrown without one).
 *
 * `name` is used for origins (`name#1`, `name#2`, ...) and errors.
 */
export async function* splitMbox(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  name: string,
  opts: MboxOptions = {},
): AsyncGenerator<RawMail> {
  const format = opts.format ?? "mboxrd";
  const limits = opts.limits ?? DEFAULT_MAIL_LIMITS;
  let carry: Buffer | null = null;
  let parts: Buffer[] = [];
  let partsLength = 0;
  /** Length of the last line of the current message when it is blank, else 0. */
  let trailingBlank = 0;
  let started = false;
  let count = 0;
  /** Why the current message is being dropped, once it is over a limit. */
  let refused: string | null = null;
  /** Bytes up to the next newline belong to a line over the limit and are thrown away. */
  let skippingLine = false;

  const refuse = (reason: string): void => {
    refused ??= reason;
    parts = [];
    partsLength = 0;
  };
  const take = (buf: Buffer, from: number, to: number): void => {
    if (to <= from || refused !== null) return;
    if (partsLength + (to - from) > limits.maxMessageBytes) {
      const what = `message of more than ${limits.maxMessageBytes} bytes`;
      refuse(overLimitReason("maxMessageBytes", what, limits.maxMessageBytes));
      return;
    }
    parts.push(buf.subarray(from, to));
    partsLength += to - from;
  };
  const finish = (): RawMail | null => {
    const whole = Buffer.concat(parts, partsLength);
    parts = [];
    partsLength = 0;
    count++;
    const raw = trailingBlank > 0 ? whole.subarray(0, whole.length - trailingBlank) : whole;
    trailingBlank = 0;
    const origin = `${name}#${count}`;
    if (refused !== null) {
      const reason = refused;
      refused = null;
      reportOrThrow(new SourceError("over-limit", name, reason, origin), opts);
      return null;
    }
    return { raw, origin };
  };

  /**
   * Walk the complete lines of `buf` from `from` to `end`; `segment` is where the bytes not
   * yet taken into the current message begin. Yields finished messages.
   */
  function* lines(buf: Buffer, from: number, end: number): Generator<RawMail> {
    let segment = from;
    let pos = from;
    while (pos < end) {
      const nl = buf.indexOf(LF, pos);
      const lineEnd = nl === -1 || nl >= end ? end : nl + 1;
      const first = buf[pos];
      const length = lineEnd - pos;
      const blank =
        (length === 1 && first === LF) || (length === 2 && first === CR && buf[pos + 1] === LF)
          ? length
          : 0;
      if (first === 0x46 /* F */ && startsWithFrom(buf, pos, lineEnd)) {
        if (started) {
          take(buf, segment, pos);
          const mail = finish();
          if (mail) yield mail;
        }
        started = true;
        segment = lineEnd;
        trailingBlank = 0;
      } else if (!started) {
        // Blank lines before the first message are tolerated, anything else is not mbox.
        if (blank === 0 && length > 0) {
          throw new SourceError("not-mbox", name, "does not start with a From line");
        }
        segment = lineEnd;
      } else {
        if (length > limits.maxLineBytes) {
          const what = `a line of ${length} bytes`;
          refuse(overLimitReason("maxLineBytes", what, limits.maxLineBytes));
        }
        if (first === GT) {
          let at = pos;
          while (at < lineEnd && buf[at] === GT) at++;
          if (startsWithFrom(buf, at, lineEnd) && (format === "mboxrd" || at - pos === 1)) {
            take(buf, segment, pos);
            segment = pos + 1;
          }
        }
        trailingBlank = blank;
      }
      pos = lineEnd;
    }
    take(buf, segment, end);
  }

  /** A line without its newline yet grew past the limit: drop it and what follows of it. */
  const dropLongLine = (): void => {
    if (!started) throw new SourceError("not-mbox", name, "does not start with a From line");
    const what = `a line of more than ${limits.maxLineBytes} bytes`;
    refuse(overLimitReason("maxLineBytes", what, limits.maxLineBytes));
    trailingBlank = 0;
    carry = null;
    skippingLine = true;
  };

  for await (const chunk of chunks) {
    let piece = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    if (skippingLine) {
      const nl = piece.indexOf(LF);
      if (nl === -1) continue;
      skippingLine = false;
      piece = piece.subarray(nl + 1);
    }
    const buf: Buffer = carry ? Buffer.concat([carry, piece]) : piece;
    const lastNl = buf.lastIndexOf(LF);
    if (lastNl === -1) {
      carry = buf;
      if (carry.length > limits.maxLineBytes) dropLongLine();
      continue;
    }
    yield* lines(buf, 0, lastNl + 1);
    carry = lastNl + 1 < buf.length ? buf.subarray(lastNl + 1) : null;
    if (carry && carry.length > limits.maxLineBytes) dropLongLine();
  }
  // A last line without a newline.
  if (carry) yield* lines(carry, 0, carry.length);
  if (started) {
    const mail = finish();
    if (mail) yield mail;
  }
}

/** True when the file begins with the gzip magic bytes, whatever its name. */
export async function isGzipFile(file: string): Promise<boolean> {
  const head = await readHead(file, 2);
  return head.length === 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
}

/** The first `n` bytes of a file (fewer when it is shorter). */
export async function readHead(file: string, n: number): Promise<Buffer> {
  const handle = await open(file, "r");
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await handle.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Read an mbox or mboxrd file, gzip'd or not (lore's `t.mbox.gz`); gzip is recognised by
 * its magic bytes. Streams: memory does not grow with the file. A gzip'd file that inflates
 * past `maxDecompressedBytes` is read up to there: the message being read and the rest are
 * reported as one error (`onError`; thrown without one).
 */
export async function* readMbox(file: string, opts: MboxOptions = {}): AsyncGenerator<RawMail> {
  let gzip: boolean;
  try {
    gzip = await isGzipFile(file);
  } catch (cause) {
    throw new SourceError("not-found", file, `cannot open: ${errorText(cause)}`);
  }
  const stream = createReadStream(file, { highWaterMark: 256 * 1024 });
  yield* inflateAndSplit(stream, gzip, path.basename(file), file, opts);
}

/**
 * An mbox held in memory (a `t.mbox.gz` fetched from lore), gzip'd or not, read as
 * `readMbox` reads a file: the same bound on inflated bytes, the same errors. `name` names
 * the origins (`name#1`, ...), `source` the errors.
 */
export async function* readMboxBytes(
  bytes: Buffer,
  name: string,
  source: string,
  opts: MboxOptions = {},
): AsyncGenerator<RawMail> {
  const gzip = bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
  yield* inflateAndSplit(Readable.from([bytes]), gzip, name, source, opts);
}

async function* inflateAndSplit(
  stream: Readable,
  gzip: boolean,
  name: string,
  source: string,
  opts: MboxOptions,
): AsyncGenerator<RawMail> {
  const limits = opts.limits ?? DEFAULT_MAIL_LIMITS;
  const gunzip = gzip ? stream.pipe(createGunzip()) : null;
  if (gunzip) stream.on("error", (err) => gunzip.destroy(err));
  let read = 0;
  try {
    const bytes = gunzip ? boundedBytes(gunzip, limits.maxDecompressedBytes) : stream;
    for await (const mail of splitMbox(bytes, name, opts)) {
      read++;
      yield mail;
    }
  } catch (cause) {
    if (cause instanceof InflateLimitError) {
      const what = `${name} inflates to more than ${limits.maxDecompressedBytes} bytes; message #${read + 1} and any after it not read`;
      const reason = overLimitReason("maxDecompressedBytes", what, limits.maxDecompressedBytes);
      reportOrThrow(new SourceError("over-limit", source, reason, `${name}#${read + 1}`), opts);
      return;
    }
    if (cause instanceof SourceError) throw cause;
    throw new SourceError("read-failed", source, errorText(cause));
  } finally {
    stream.destroy();
    gunzip?.destroy();
  }
}

/** Inflating passed its bound; read as a SourceError over the limit. */
class InflateLimitError extends HypwatchError {
  readonly kind = "permanent";
  constructor() {
    super("inflated past its bound");
  }
}

/** The chunks of `stream` until `cap` bytes have passed; one more byte throws. */
async function* boundedBytes(stream: AsyncIterable<Buffer>, cap: number): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > cap) throw new InflateLimitError();
    yield chunk;
  }
}

const DEFAULT_FROM_LINE = "From mboxrd@z Thu Jan  1 00:00:00 1970";

/**
 * One message as an mboxrd entry: the `From ` line, the message with every `>*From ` line
 * escaped by one more `>`, a newline when the message lacks a final one, then a blank line.
 * `splitMbox` gives back the message bytes (plus that added newline, if any).
 */
export function mboxrdEntry(raw: Buffer, fromLine: string = DEFAULT_FROM_LINE): Buffer {
  const out: Buffer[] = [Buffer.from(`${fromLine}\n`)];
  let segment = 0;
  let pos = 0;
  while (pos < raw.length) {
    let at = pos;
    while (at < raw.length && raw[at] === GT) at++;
    if (startsWithFrom(raw, at, raw.length)) {
      out.push(raw.subarray(segment, pos), Buffer.from(">"));
      segment = pos;
    }
    const nl = raw.indexOf(LF, pos);
    pos = nl === -1 ? raw.length : nl + 1;
  }
  out.push(raw.subarray(segment));
  if (raw.length > 0 && raw[raw.length - 1] !== LF) out.push(Buffer.from("\n"));
  out.push(Buffer.from("\n"));
  return Buffer.concat(out);
}

function errorText(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
