import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { execa } from "execa";
import { HypwatchError } from "../errors.js";

/** A tarball that could not be extracted; output kept for logs. */
export class ExtractError extends HypwatchError {
  // A damaged tarball or a full disk: another attempt meets the same, an operator acts.
  readonly kind = "permanent";
  constructor(
    readonly tarball: string,
    readonly output: string,
  ) {
    super(`cannot extract ${tarball}`);
  }
}

export interface ExtractOptions {
  /** Called as the tarball is read: bytes of the (compressed) file so far, and its size. */
  onProgress?: (bytesRead: number, totalBytes: number) => void;
}

/** tar's option for the compression the file's first bytes show (none: a plain tar). */
const MAGIC: [Buffer, string][] = [
  [Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), "--xz"],
  [Buffer.from([0x1f, 0x8b]), "--gzip"],
  [Buffer.from("BZh"), "--bzip2"],
  [Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), "--zstd"],
];

async function compressionOption(tarball: string): Promise<string[]> {
  const file = await open(tarball);
  try {
    const buffer = Buffer.alloc(6);
    const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
    const head = buffer.subarray(0, bytesRead);
    const found = MAGIC.find(([magic]) => head.subarray(0, magic.length).equals(magic));
    return found ? [found[1]] : [];
  } finally {
    await file.close();
  }
}

/**
 * Extract `tarball` (plain, xz, gzip, bzip2 or zstd) into the existing directory `dest`.
 * tar reads it from a pipe, so that how much of it was read, and so how far extraction is,
 * can be told (`onProgress`).
 */
export async function extractTarball(
  tarball: string,
  dest: string,
  opts: ExtractOptions = {},
): Promise<void> {
  const totalBytes = (await stat(tarball)).size;
  const args = ["-x", ...(await compressionOption(tarball)), "-f", "-", "-C", dest];
  const tar = execa("tar", args, {
    stdin: "pipe",
    reject: false,
    timeout: 30 * 60_000,
    forceKillAfterDelay: 2000,
    maxBuffer: 16 * 1024 * 1024,
  });
  let bytesRead = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytesRead += chunk.length;
      opts.onProgress?.(bytesRead, totalBytes);
      done(null, chunk);
    },
  });
  // A tar that exits early (a damaged archive) closes the pipe: its exit status says why.
  const fed = pipeline(
    createReadStream(tarball, { highWaterMark: 1 << 20 }),
    counter,
    tar.stdin,
  ).then(
    () => null,
    (err: unknown) => err,
  );
  const [result, feedError] = await Promise.all([tar, fed]);
  if (result.exitCode !== 0) throw new ExtractError(tarball, String(result.stderr ?? ""));
  if (feedError) throw new ExtractError(tarball, String(feedError));
}
