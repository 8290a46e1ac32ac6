import { readdir, stat } from "node:fs/promises";
import { looksLikeGitDir } from "../io/git-archive.js";
import { DEFAULT_MAIL_LIMITS } from "../mail/limits.js";
import { overLimitReason } from "../mail/limits.js";
import { SourceError, reportOrThrow } from "./errors.js";
import { isMaildir, readEml, readEmlDirectory, readMaildir } from "./files.js";
import { isGzipFile, readHead, readMbox, type MboxFormat } from "./mbox.js";
import { listEpochs, readPublicInbox, type PublicInboxOptions } from "./publicInbox.js";
import type { RawMail, SourceKind } from "./types.js";

export interface SourceOptions extends PublicInboxOptions {
  /** For mbox files; mboxrd unless told. */
  mboxFormat?: MboxFormat;
}

/** What a path holds, as `readSource` sees it. A directory of `.eml` files is `eml`. */
export async function detectSource(source: string): Promise<SourceKind> {
  let info;
  try {
    info = await stat(source);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new SourceError("not-found", source, `cannot open: ${reason}`);
  }
  if (info.isDirectory()) {
    if (await looksLikeGitDir(source)) return "public-inbox";
    if (await isMaildir(source)) return "maildir";
    if ((await listEpochs(source)).length > 0) return "public-inbox";
    const names = await readdir(source);
    if (names.some((name) => name.toLowerCase().endsWith(".eml"))) return "eml";
    throw new SourceError(
      "unknown-kind",
      source,
      "not a public-inbox archive, Maildir or directory of .eml files",
    );
  }
  if (await isGzipFile(source)) return "mbox.gz";
  // By content, not name: mbox files begin with a `From ` line, single messages with a
  // header (Patchwork's test mail, for one, is single messages named `.mbox`).
  const head = await readHead(source, 5);
  return head.toString("latin1") === "From " ? "mbox" : "eml";
}

/**
 * Every message of a source, in the source's order: a public-inbox epoch or directory of
 * epochs (`since` resumes after a commit), an mbox/mboxrd file (gzip'd or not), a Maildir,
 * one `.eml` file or a directory of them. Streams; errors name the source. Reading stops
 * after `maxMessagesPerSource` messages, with an error naming the first one left unread.
 */
export async function* readSource(
  source: string,
  opts: SourceOptions = {},
): AsyncGenerator<RawMail> {
  const cap = (opts.limits ?? DEFAULT_MAIL_LIMITS).maxMessagesPerSource;
  let count = 0;
  for await (const mail of readAnySource(source, opts)) {
    if (count === cap) {
      const what = `more than ${cap} messages; ${mail.origin} and any after it not read`;
      const reason = overLimitReason("maxMessagesPerSource", what, cap);
      reportOrThrow(new SourceError("over-limit", source, reason, mail.origin), opts);
      return;
    }
    count++;
    yield mail;
  }
}

async function* readAnySource(source: string, opts: SourceOptions): AsyncGenerator<RawMail> {
  const kind = await detectSource(source);
  if (opts.since && kind !== "public-inbox") {
    throw new SourceError(
      "unknown-kind",
      source,
      `since applies to public-inbox archives, not ${kind}`,
    );
  }
  switch (kind) {
    case "public-inbox":
      yield* readPublicInbox(source, opts);
      return;
    case "mbox":
    case "mbox.gz":
      yield* readMbox(source, { ...opts, format: opts.mboxFormat ?? "mboxrd" });
      return;
    case "maildir":
      yield* readMaildir(source, opts);
      return;
    case "eml":
      if ((await stat(source)).isDirectory()) yield* readEmlDirectory(source, opts);
      else yield* readEml(source, opts);
      return;
  }
}
